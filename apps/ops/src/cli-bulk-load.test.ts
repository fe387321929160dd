/** `ops bulk-load`: the bulk load as the indexer's own command leaves it, and what is left of the stream. */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { ops, opsJson, OPS_DIR } from './test/cli.js'
import { cliTestSetup } from './test/cli-setup.js'
import type { BackfillStreamStatus, BulkLoadStatus } from './commands/bulk-load.js'

const { redis, name } = cliTestSetup()
const run = promisify(execFile)

const direct = (): string => {
  const url = process.env.DATABASE_DIRECT_URL
  if (!url) throw new Error('DATABASE_DIRECT_URL is not set (run scripts/services.sh start)')
  return url
}
const withDb = (url: string, db: string): string => {
  const u = new URL(url)
  u.pathname = `/${db}`
  return u.toString()
}
async function admin(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: direct() })
  await c.connect()
  try {
    await c.query(text)
  } finally {
    await c.end()
  }
}
const dbs: string[] = []
afterAll(async () => {
  for (const db of dbs) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
})

/** The indexer's bulk-load command (its built dist), as an operator runs it. */
const bulkLoad = (url: string, ...args: string[]) =>
  run(process.execPath, [join(OPS_DIR, '../indexer/dist/bulk-load.js'), ...args], {
    env: { PATH: process.env.PATH, DATABASE_URL: url, LOG_LEVEL: 'error' },
    timeout: 60_000,
  })

describe('bulk-load', () => {
  it('shows no load, then the open load and what the indexers have left of the stream, then the finished load', async () => {
    const db = `ops_bulk_${randomBytes(5).toString('hex')}`
    await admin(`CREATE DATABASE ${db}`)
    dbs.push(db)
    const url = withDb(direct(), db)
    const stream = name('bulk_backfill')
    const args = ['bulk-load', '--database-url', url, '--stream', stream, '--group', 'idx']

    // a database the indexer never migrated: no load
    type Out = { load: BulkLoadStatus; backfill: BackfillStreamStatus[] }
    let out = await opsJson<Out>(args)
    expect(out.load).toMatchObject({ state: 'none', startedAt: null, step: null })
    expect(out.backfill).toEqual([{ stream, length: 0, lag: 0, pending: 0 }])

    await bulkLoad(url, 'start')
    for (let i = 0; i < 5; i++) await redis.xadd(stream, '*', 'event', `e${i}`)
    out = await opsJson<Out>(args)
    expect(out.load.state).toBe('open')
    expect(Date.parse(out.load.startedAt ?? '')).toBeGreaterThan(Date.now() - 120_000)
    // the start dropped the AppView-only indexes of the empty database
    expect(out.load.deferredIndexes).toBeGreaterThan(0)
    // no group yet: all of it is left
    expect(out.backfill).toEqual([{ stream, length: 5, lag: 5, pending: 0 }])
    await redis.xgroup('CREATE', stream, 'idx', '0')
    await redis.xreadgroup('GROUP', 'idx', 'c1', 'COUNT', 2, 'STREAMS', stream, '>')
    out = await opsJson<Out>(args)
    expect(out.backfill).toEqual([{ stream, length: 5, lag: 3, pending: 2 }])
    const table = await ops(args)
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/state +open: INDEXER_MODE=bulk/)
    expect(table.stdout).toMatch(new RegExp(`${stream} +5 +3 +2`))

    await bulkLoad(url, 'finish')
    out = await opsJson<Out>(args)
    expect(out.load).toMatchObject({ state: 'finished', step: 'done' })
    expect(out.load.closedAt).not.toBeNull()
    expect(out.load.finishedAt).not.toBeNull()
  })

  it('needs the database: a missing or wrong URL is a usage error naming it, an unreachable one a runtime error', async () => {
    const missing = await ops(['bulk-load'], { env: { DATABASE_URL: undefined } })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/--database-url or set DATABASE_URL/)
    const wrong = await ops(['bulk-load', '--database-url', 'redis://127.0.0.1:1'])
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toMatch(/must be a postgres:\/\/ URL/)
    const down = await ops(['bulk-load', '--database-url', 'postgres://postgres:secret@127.0.0.1:1/x'])
    expect(down.code).toBe(1)
    expect(down.stderr).toMatch(/cannot reach Postgres at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/x/)
  })
})
