import { Cluster, Redis } from 'ioredis'
import type { RedisClient } from '@firehose/streams'
import { createPeerFetch, createPeerPolicy, parseNetworkList, type NetworkList, type PeerFetch } from '@firehose/atproto'
import { parseIntOption, type Parsed } from './args.js'
import { OpsError, UsageError } from './errors.js'
import { renderTable, type Column } from './table.js'

export interface Env {
  [name: string]: string | undefined
}

/** What a command needs: its arguments, a lazily opened Redis, and where to print. */
export class Context {
  readonly json: boolean
  readonly shards: number
  private client: RedisClient | undefined
  constructor(
    readonly args: Parsed,
    readonly env: Env,
    readonly out: (s: string) => void = (s) => process.stdout.write(s),
    readonly err: (s: string) => void = (s) => process.stderr.write(s),
  ) {
    this.json = args.values.json === true
    const shards = str(args, 'shards') ?? env.STREAM_SHARDS
    this.shards = shards ? parseIntOption('shards', shards, 1, 1024) : 1
  }

  /**
   * The fetch for peers (listRepos of a host): the outgoing-request policy, with the special
   * networks of ALLOW_PRIVATE_NETWORKS allowed.
   */
  get peerFetch(): PeerFetch {
    let allow: NetworkList
    try {
      allow = parseNetworkList(this.env.ALLOW_PRIVATE_NETWORKS)
    } catch (e) {
      throw new UsageError(`ALLOW_PRIVATE_NETWORKS: ${(e as Error).message}`)
    }
    return (this.fetcher ??= createPeerFetch(createPeerPolicy(allow), { maxBodyBytes: 16 * 1024 * 1024 }))
  }
  private fetcher: PeerFetch | undefined

  get redisUrl(): string {
    const url = str(this.args, 'redis-url') ?? this.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
    let u: URL
    try {
      u = new URL(url)
    } catch {
      throw new UsageError(`--redis-url / REDIS_URL must be a redis:// URL, got "${url}"`)
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
      throw new UsageError(`--redis-url / REDIS_URL must use redis: or rediss:, got "${u.protocol}"`)
    return url
  }

  get clusterNodes(): string[] {
    const v = str(this.args, 'cluster-nodes') ?? this.env.REDIS_CLUSTER_NODES ?? ''
    return v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  }

  /** Connect once; fail within a few seconds with a clear message when Redis is unreachable. */
  async redis(): Promise<RedisClient> {
    if (this.client) return this.client
    const nodes = this.clusterNodes
    const url = this.redisUrl
    const where = nodes.length > 0 ? `Redis Cluster ${nodes.join(',')}` : `Redis at ${redactUrl(url)}`
    const base = { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, connectionName: 'firehose-ops' }
    const client: RedisClient =
      nodes.length > 0
        ? new Cluster(
            nodes.map((n) => ({ host: n.split(':')[0] ?? '127.0.0.1', port: Number(n.split(':')[1] ?? 6379) })),
            { lazyConnect: true, clusterRetryStrategy: () => null, redisOptions: base },
          )
        : new Redis(url, { ...base, retryStrategy: () => null })
    let lastError = ''
    client.on('error', (e: Error) => (lastError = e.message))
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        client.connect().then(() => client.ping()),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out after 5s')), 5000))),
      ])
    } catch (e) {
      client.disconnect()
      const reason = lastError || (e instanceof Error ? e.message : String(e))
      throw new OpsError(`cannot reach ${where}: ${reason}`)
    } finally {
      clearTimeout(timer)
    }
    this.client = client
    return client
  }

  async close(): Promise<void> {
    const c = this.client
    this.client = undefined
    if (c) await c.quit().catch(() => c.disconnect())
  }

  /** `--json`: the data as JSON; otherwise a table (or `empty` when there are no rows). */
  print<R>(rows: R[], columns: Column<R>[], empty = '(none)\n'): void {
    if (this.json) this.out(`${JSON.stringify(rows, null, 2)}\n`)
    else this.out(rows.length === 0 ? empty : renderTable(rows, columns))
  }
  printJsonOr(data: unknown, text: string): void {
    this.out(this.json ? `${JSON.stringify(data, null, 2)}\n` : text.endsWith('\n') ? text : `${text}\n`)
  }
  /** Notes for people (dry-run hints, progress) go to stderr so stdout stays parseable. */
  note(s: string): void {
    this.err(s.endsWith('\n') ? s : `${s}\n`)
  }
}

export function str(args: Parsed, name: string): string | undefined {
  const v = args.values[name]
  return typeof v === 'string' ? v : undefined
}
export function flag(args: Parsed, name: string): boolean {
  return args.values[name] === true
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return url
  }
}

/** Positionals after the command words, checked against a count. */
export function positionals(args: Parsed, command: string, min: number, max: number, names: string): string[] {
  const p = args.positionals
  if (p.length < min) throw new UsageError(`missing ${names}`, command)
  if (p.length > max) throw new UsageError(`unexpected argument "${p[max]}"`, command)
  return p
}
