/**
 * Acked means durable: the indexer acks an entry once its transaction commits, and the stream
 * is trimmed soon after, so the production Postgres must not acknowledge a commit it could lose
 * in a crash (docs/operations.md "Durability"). The measured cost is in apps/indexer/DATABASE.md.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT, loadCompose } from '../apps/ops/src/test/deploy-checks.js'

/** `-c name=value` settings of a postgres command line. */
function postgresSettings(command: unknown): Map<string, string> {
  const words = (Array.isArray(command) ? command.map(String) : String(command ?? '').split(/\s+/)).filter(Boolean)
  const out = new Map<string, string>()
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string
    const setting = w === '-c' ? words[++i] : w.startsWith('--') ? w.slice(2) : undefined
    const eq = setting?.indexOf('=') ?? -1
    if (setting && eq > 0) out.set(setting.slice(0, eq).replaceAll('-', '_'), setting.slice(eq + 1))
  }
  return out
}

/** the passwords the production compose requires (deploy.test.ts checks it refuses to start without them) */
const SECRETS = { POSTGRES_PASSWORD: 'pg0123abcd', REDIS_PASSWORD: 'redis0123abcd', GRAFANA_ADMIN_PASSWORD: 'grafana0123abcd' }

describe('production compose: Postgres keeps every acknowledged commit', () => {
  const postgres = loadCompose(join(ROOT, 'deploy', 'docker-compose.yml'), SECRETS).services.find((s) => s.name === 'postgres')
  it.each(['synchronous_commit', 'fsync', 'full_page_writes'])('%s is on', (name) => {
    expect(postgres, 'a postgres service').toBeDefined()
    const value = postgresSettings(postgres?.raw.command).get(name)
    // (unset is on by Postgres' default; the file says it explicitly so nobody flips it by accident)
    expect(value, `${name} in the postgres command line`).toBe('on')
  })
  it('reads the settings of a command line', () => {
    expect([...postgresSettings('postgres -c fsync=off --synchronous-commit=off -c a')]).toEqual([
      ['fsync', 'off'],
      ['synchronous_commit', 'off'],
    ])
  })
})
