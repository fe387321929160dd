// Make the local services' URLs available to this process: when any of `required` is unset,
// run `scripts/services.sh start` (which starts or finds Redis, Postgres and pgbouncer) and put
// the variables it exports into process.env. Used by the bench runner, the benches and the
// vitest global setup.
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const script = join(dirname(fileURLToPath(import.meta.url)), 'services.sh')

export function ensureServices(required = ['REDIS_URL', 'DATABASE_URL']) {
  if (required.every((name) => process.env[name])) return
  const out = execFileSync('bash', [script, 'start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  for (const line of out.split('\n')) {
    const m = /^export ([A-Z_]+)='(.*)'$/.exec(line.trim())
    if (m) process.env[m[1]] = m[2]
  }
  for (const name of required) if (!process.env[name]) throw new Error(`services.sh did not export ${name}`)
}
