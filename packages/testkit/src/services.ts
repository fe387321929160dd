import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'scripts', 'services.sh'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('scripts/services.sh not found above testkit')
    dir = up
  }
  return dir
}

export interface PrivateServices {
  redisUrl: string
  databaseUrl: string
  databaseDirectUrl: string
  restart(service: 'redis' | 'postgres' | 'pgbouncer'): Promise<void>
  /** Kill Postgres as a crash would (`pg_ctl stop -m immediate`); `start()` brings it back. */
  crash(service: 'postgres'): Promise<void>
  /** Start what is not running (after `crash`: Postgres runs crash recovery). */
  start(): Promise<void>
  stop(): Promise<void>
  /** Stop them and delete their data (the folder, and its runtime folder under /var/tmp). */
  remove(): Promise<void>
}

/**
 * A Redis, Postgres and pgbouncer of the suite's own (own data folder, own free ports), for
 * tests that restart them: the shared ones other suites use are left alone. Their folder is
 * `.local/services-<name>` unless `folder` says otherwise; `remove()` when done, or ~50 MB of
 * data stays behind each run.
 */
export async function startPrivateServices(
  name: string,
  opts: { durablePostgres?: boolean; folder?: string } = {},
): Promise<PrivateServices> {
  const root = repoRoot()
  const script = join(root, 'scripts', 'services.sh')
  const folder = opts.folder ?? join(root, '.local', `services-${name}`)
  const env: NodeJS.ProcessEnv = { ...process.env, SERVICES_DIR: folder }
  // production durability (fsync, synchronous_commit on): for the tests that crash Postgres
  if (opts.durablePostgres) env.SERVICES_PG_DURABLE = '1'
  else delete env.SERVICES_PG_DURABLE
  delete env.REDIS_URL
  delete env.DATABASE_URL
  delete env.DATABASE_DIRECT_URL
  const { stdout } = await run('bash', [script, 'start'], { env, maxBuffer: 1 << 20 })
  const vars: Record<string, string> = {}
  for (const line of stdout.split('\n')) {
    const m = /^export ([A-Z_]+)='(.*)'$/.exec(line.trim())
    if (m?.[1] && m[2] !== undefined) vars[m[1]] = m[2]
  }
  if (!vars.REDIS_URL || !vars.DATABASE_URL || !vars.DATABASE_DIRECT_URL) throw new Error(`services did not start: ${stdout}`)
  return {
    redisUrl: vars.REDIS_URL,
    databaseUrl: vars.DATABASE_URL,
    databaseDirectUrl: vars.DATABASE_DIRECT_URL,
    async restart(service) {
      await run('bash', [script, 'restart', service], { env })
    },
    async crash(service) {
      await run('bash', [script, 'crash', service], { env })
    },
    async start() {
      await run('bash', [script, 'start'], { env })
    },
    async stop() {
      await run('bash', [script, 'stop'], { env })
    },
    async remove() {
      await run('bash', [script, 'remove'], { env })
    },
  }
}
