/**
 * The bulk load as an operator runs it: `node dist/bulk-load.js start`, the indexer process
 * logic with INDEXER_MODE=bulk draining a stream, `status`, `finish`; the tables equal those the
 * normal path makes of the same events.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '@firehose/service'
import { encodeEvent } from '@firehose/streams'
import { waitFor } from '@firehose/testkit/wait'
import { loadConfig } from './config.js'
import { startIndexer, type RunningIndexer } from './indexer.js'
import { createTestDb, type TestDb } from './test/db.js'
import { snapshot, TABLES } from './test/tables.js'
import { generateHistory } from './test/workload.js'
import { indexBatch } from './writer/index-batch.js'

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bulk-load.js')
const run = promisify(execFile)

/** `node dist/bulk-load.js <command>` on `db`: its exit code and output. */
async function cli(db: TestDb, command: string, env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [CLI, command], {
      env: { PATH: process.env.PATH, DATABASE_URL: db.url, LOG_LEVEL: 'info', BULK_FINISH_CHUNK: '25', ...env },
    })
    return { code: 0, out: r.stdout, err: r.stderr }
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string }
    return { code: err.code ?? -1, out: err.stdout ?? '', err: err.stderr ?? '' }
  }
}

describe('bulk-load: the operator command and INDEXER_MODE=bulk', () => {
  let normal: TestDb
  let bulk: TestDb
  let indexer: RunningIndexer | undefined
  const redis = new Redis(process.env.REDIS_URL as string)
  const stream = `fb_bulk_${randomBytes(4).toString('hex')}`

  beforeAll(async () => {
    ;[normal, bulk] = await Promise.all([createTestDb(), createTestDb({ migrated: false })])
  })
  afterAll(async () => {
    await indexer?.close()
    await Promise.all([normal?.drop(), bulk?.drop()])
    await redis.del(stream, `${stream}_dlq`)
    await redis.quit()
  })

  it('INDEXER_MODE is normal or bulk; anything else stops the start naming the variable', () => {
    const base = { DATABASE_URL: 'postgres://x/y', INDEXER_CONSUMER: 'c' }
    expect(loadConfig(base).mode).toBe('normal')
    expect(loadConfig({ ...base, INDEXER_MODE: 'bulk' }).mode).toBe('bulk')
    expect(() => loadConfig({ ...base, INDEXER_MODE: 'fast' })).toThrow(/INDEXER_MODE/)
  })

  it('refuses what makes no sense: an unknown command, a bad setting, a finish without a load', async () => {
    const unknown = await cli(bulk, 'begin')
    expect(unknown.code).toBe(2)
    expect(unknown.out + unknown.err).toMatch(/usage: bulk-load start\|status\|finish/)
    const bad = await cli(bulk, 'finish', { BULK_FINISH_CONCURRENCY: '0' })
    expect(bad.code).toBe(2)
    expect(bad.err).toMatch(/BULK_FINISH_CONCURRENCY/)
    const none = await cli(bulk, 'finish')
    expect(none.code).toBe(1)
    expect(none.out + none.err).toMatch(/no bulk load to finish/)
    expect(JSON.parse((await cli(bulk, 'status')).out)).toMatchObject({ state: 'none' })
  })

  it('start, drain with INDEXER_MODE=bulk, finish: the tables the normal path makes', async () => {
    const history = generateHistory(31, 4, 300)
    for (let i = 0; i < history.length; i += 50) expect((await indexBatch(normal.database, history.slice(i, i + 50))).failed).toEqual([])

    const indexes = async (db: TestDb) =>
      (await db.database.pool.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`)).rows.map(
        (r: { indexdef: string }) => r.indexdef,
      )
    expect((await cli(bulk, 'start')).code).toBe(0)
    const open = JSON.parse((await cli(bulk, 'status')).out) as { state: string; deferredIndexes: { name: string }[] }
    expect(open).toMatchObject({ state: 'open', closedAt: null })
    // an empty database: the AppView-only indexes wait for the finish
    expect(open.deferredIndexes.map((i) => i.name)).toContain('feed_item_cursor_idx')
    expect((await indexes(bulk)).length).toBe((await indexes(normal)).length - open.deferredIndexes.length)
    const again = await cli(bulk, 'start')
    expect(again.code).toBe(1)
    expect(again.out + again.err).toMatch(/already open/)

    const p = redis.pipeline()
    for (const e of history) p.xadd(stream, '*', 'event', encodeEvent(e))
    await p.exec()
    indexer = await startIndexer(
      loadConfig({
        REDIS_URL: process.env.REDIS_URL,
        DATABASE_URL: bulk.url,
        INDEXER_CONSUMER: 'bulk-1',
        INDEXER_STREAMS: stream,
        INDEXER_LABEL_STREAM: '',
        INDEXER_READ_BATCH: '40',
        INDEXER_MODE: 'bulk',
        ENABLE_DID_RESOLUTION: 'false',
        METRICS_PORT: '0',
      }),
      createLogger('bulk-test', 'warn'),
    )
    const acked = async () => {
      const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][]
      const g = groups.map((x) => Object.fromEntries(Array.from({ length: x.length / 2 }, (_, i) => [x[2 * i], x[2 * i + 1]])))[0]
      return g !== undefined && Number(g.lag) === 0 && Number(g.pending) === 0
    }
    await waitFor(acked, 60_000, 'the bulk indexer drained the stream')
    const metrics = await indexer.registry.getSingleMetricAsString('indexer_bulk_deferred_batches_total')
    expect(Number(/indexer_bulk_deferred_batches_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0)

    const finish = await cli(bulk, 'finish')
    expect(finish.code, finish.out + finish.err).toBe(0)
    expect(finish.out).toMatch(/bulk load finished/)
    expect(JSON.parse((await cli(bulk, 'status')).out)).toMatchObject({ state: 'finished', step: 'done' })
    expect((await cli(bulk, 'finish')).code, 'a finished load: nothing to do').toBe(0)
    // every index back, as the migrations made it, and valid
    expect(await indexes(bulk)).toEqual(await indexes(normal))
    const invalid = await bulk.database.pool.query(`SELECT count(*)::int AS n FROM pg_index WHERE NOT indisvalid`)
    expect((invalid.rows[0] as { n: number }).n).toBe(0)

    const [sn, sb] = await Promise.all([snapshot(normal), snapshot(bulk)])
    expect(sn.notification?.length).toBeGreaterThan(10)
    for (const [table] of TABLES) expect(sb[table], table).toEqual(sn[table])
  })
})
