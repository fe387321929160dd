import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Start (or find) the local Redis / Postgres / pgbouncer and export their URLs to the tests. */
export default function setup(): void {
  if (process.env.REDIS_URL && process.env.DATABASE_URL) return
  const root = join(dirname(fileURLToPath(import.meta.url)), '..')
  const out = execFileSync('bash', [join(root, 'scripts/services.sh'), 'start'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  for (const line of out.split('\n')) {
    const m = /^export ([A-Z_]+)='(.*)'$/.exec(line.trim())
    if (m && m[1] && m[2] !== undefined) process.env[m[1]] = m[2]
  }
}
