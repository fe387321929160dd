import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'

export type AppName = 'ingester' | 'backfiller' | 'indexer'

/** ALLOW_PRIVATE_NETWORKS for the in-process AT Protocol network: it listens on 127.0.0.1 only. */
export const LOCAL_NETWORK = '127.0.0.1/32'

/** A free loopback port (the OS picks; closed again at once). */
export async function freePort(): Promise<number> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const port = (srv.address() as { port: number }).port
  srv.close()
  await once(srv, 'close')
  return port
}

/** One app (`node apps/<name>/dist/main.js`) as a child process in its own process group. */
export class AppProcess {
  child: ChildProcess | null = null
  private log: WriteStream
  restarts = 0

  constructor(
    readonly name: AppName,
    private readonly root: string,
    readonly env: Record<string, string>,
    readonly port: number,
    logDir: string,
  ) {
    mkdirSync(logDir, { recursive: true })
    this.log = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' })
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  start(): void {
    const child = spawn(process.execPath, [join(this.root, 'apps', this.name, 'dist', 'main.js')], {
      env: { PATH: process.env.PATH ?? '', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    child.stdout?.pipe(this.log, { end: false })
    child.stderr?.pipe(this.log, { end: false })
    this.child = child
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null
  }

  async waitReady(timeoutMs = 60_000): Promise<void> {
    const t0 = Date.now()
    while (Date.now() - t0 < timeoutMs) {
      if (!this.running) throw new Error(`${this.name} exited (code ${this.child?.exitCode}); see its log`)
      try {
        const res = await fetch(`${this.url}/ready`)
        if (res.ok) return
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`${this.name} not ready after ${timeoutMs} ms`)
  }

  /** Send a signal and wait for the exit; SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<number | null> {
    const child = this.child
    if (!child || !this.running) return child?.exitCode ?? null
    const exited = once(child, 'exit')
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    const [code] = (await exited) as [number | null]
    clearTimeout(timer)
    return code
  }

  async restart(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.stop(signal)
    this.restarts++
    this.start()
    await this.waitReady()
  }

  close(): void {
    this.log.end()
  }
}

export interface PipelineEnv {
  root: string
  redisUrl: string
  databaseUrl: string
  relayHosts: string[]
  labelerHosts?: string[]
  plcUrl: string
  handleResolverUrl?: string
  /** ALLOW_PRIVATE_NETWORKS of every app: exactly the local network's addresses, or unset */
  allowPrivateNetworks?: string
  logDir: string
  logLevel?: string
  /** Extra variables per app (tests shorten timeouts). */
  extra?: Partial<Record<AppName, Record<string, string>>>
}

/** The three apps, configured for one machine, each on its own metrics port. */
export async function createApps(e: PipelineEnv): Promise<Record<AppName, AppProcess>> {
  const common = {
    REDIS_URL: e.redisUrl,
    LOG_LEVEL: e.logLevel ?? 'info',
    ...(e.allowPrivateNetworks !== undefined ? { ALLOW_PRIVATE_NETWORKS: e.allowPrivateNetworks } : {}),
  }
  const ingesterPort = await freePort()
  const backfillerPort = await freePort()
  const indexerPort = await freePort()
  return {
    ingester: new AppProcess(
      'ingester',
      e.root,
      {
        ...common,
        METRICS_PORT: String(ingesterPort),
        INGESTER_RELAY_HOSTS: e.relayHosts.join(','),
        ...(e.labelerHosts?.length ? { INGESTER_LABELER_HOSTS: e.labelerHosts.join(','), PLC_URL: e.plcUrl } : {}),
        INGESTER_BACKFILL_REPOS: 'true',
        PLC_URL: e.plcUrl,
        ...e.extra?.ingester,
      },
      ingesterPort,
      e.logDir,
    ),
    backfiller: new AppProcess(
      'backfiller',
      e.root,
      {
        ...common,
        BACKFILLER_METRICS_PORT: String(backfillerPort),
        BACKFILLER_CONSUMER: 'backfiller-1',
        PLC_URL: e.plcUrl,
        ...e.extra?.backfiller,
      },
      backfillerPort,
      e.logDir,
    ),
    indexer: new AppProcess(
      'indexer',
      e.root,
      {
        ...common,
        METRICS_PORT: String(indexerPort),
        DATABASE_URL: e.databaseUrl,
        INDEXER_CONSUMER: 'indexer-1',
        PLC_URL: e.plcUrl,
        ...(e.handleResolverUrl ? { HANDLE_RESOLVER_URL: e.handleResolverUrl } : {}),
        ...e.extra?.indexer,
      },
      indexerPort,
      e.logDir,
    ),
  }
}
