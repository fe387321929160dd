import { createLogger, createRegistry } from '@firehose/service'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDb, type TestDb } from '../test/db.js'
import { createdAt, deleteEvent, did, tid, uriOf, writeEvent } from '../test/events.js'
import { indexBatch } from '../writer/index-batch.js'
import { createTombstoneMetrics, pruneTombstones, startTombstonePruner } from './prune.js'

const DAY = 24 * 3_600_000
const HORIZON = 7 * DAY
const iso = (ms: number) => new Date(ms).toISOString()

describe('tombstone pruning', () => {
  let db: TestDb
  const q = async (text: string) => (await db.database.pool.query(text)).rows
  const count = async (table: string) => Number((await q(`SELECT count(*) n FROM ${table}`))[0].n)
  /** Every tombstone (and the horizon) one day older, as if a day had passed. */
  const ageOneDay = () => q(`UPDATE record_tombstone SET "tombstonedAt" = "tombstonedAt" - interval '1 day'`)

  beforeAll(async () => {
    db = await createTestDb()
  })
  afterAll(async () => {
    await db?.drop()
  })

  it('a create older than the horizon, of a uri whose tombstone was pruned, does not bring the record back; recent ones apply', async () => {
    // (first, on the fresh database: no horizon yet when the record and its delete arrive)
    const d = did(7100)
    const deletedAt = Date.now() - 10 * DAY
    const post = writeEvent(
      d,
      'app.bsky.feed.post',
      tid(900_001),
      tid(900_001),
      { text: 'deleted', createdAt },
      'create',
      iso(deletedAt - DAY),
    )
    expect((await indexBatch(db.database, [post])).outcomes[0]?.status).toBe('applied')
    expect(
      (await indexBatch(db.database, [deleteEvent(d, 'app.bsky.feed.post', tid(900_001), tid(900_002), iso(deletedAt))])).outcomes[0]
        ?.status,
    ).toBe('applied')
    // the tombstone was written 10 days ago: the pruner removes it
    await q(
      `UPDATE record_tombstone SET "tombstonedAt" = now() - interval '10 days' WHERE uri = '${uriOf(d, 'app.bsky.feed.post', tid(900_001))}'`,
    )
    expect(await pruneTombstones(db.database, { horizonMs: HORIZON })).toBeGreaterThanOrEqual(1)
    expect(await q(`SELECT 1 FROM record_tombstone WHERE uri = '${uriOf(d, 'app.bsky.feed.post', tid(900_001))}'`)).toEqual([])

    // the late create (a DLQ replayed after 10 days) is skipped as stale, and said so
    const late = await indexBatch(db.database, [post])
    expect(late.outcomes[0]).toEqual({ status: 'stale', beyondHorizon: true })
    expect(await count(`post WHERE uri = '${uriOf(d, 'app.bsky.feed.post', tid(900_001))}'`)).toBe(0)
    expect(await count(`record WHERE uri = '${uriOf(d, 'app.bsky.feed.post', tid(900_001))}'`)).toBe(0)
    // as documented: any create older than the pruned tombstones, of an unknown uri, is skipped
    // (its repo is re-backfilled); one newer than them (9 days old here) applies
    const unknownOld = writeEvent(
      d,
      'app.bsky.feed.post',
      tid(900_010),
      tid(900_010),
      { text: 'old', createdAt },
      'create',
      iso(Date.now() - 12 * DAY),
    )
    expect((await indexBatch(db.database, [unknownOld])).outcomes[0]).toEqual({ status: 'stale', beyondHorizon: true })
    const newerThanPruned = writeEvent(
      d,
      'app.bsky.feed.post',
      tid(900_014),
      tid(900_014),
      { text: 'nine days', createdAt },
      'create',
      iso(Date.now() - 9 * DAY),
    )
    expect((await indexBatch(db.database, [newerThanPruned])).outcomes[0]?.status).toBe('applied')
    // recent events, and a repo snapshot fetched now (its records' revs are old, its time is not), apply
    const fresh = writeEvent(d, 'app.bsky.feed.post', tid(900_011), tid(900_011), { text: 'new', createdAt }, 'create', iso(Date.now()))
    const snapshot = writeEvent(
      d,
      'app.bsky.feed.post',
      tid(900_012),
      tid(900_012),
      { text: 'backfilled', createdAt },
      'create',
      iso(Date.now() - 60_000),
    )
    expect((await indexBatch(db.database, [fresh, snapshot])).outcomes.map((o) => o?.status)).toEqual(['applied', 'applied'])
    // an update of a stored record is judged by its rev, whatever its time
    const update = writeEvent(
      d,
      'app.bsky.feed.post',
      tid(900_011),
      tid(900_013),
      { text: 'edited', createdAt },
      'update',
      iso(Date.now() - 9 * DAY),
    )
    expect((await indexBatch(db.database, [update])).outcomes[0]?.status).toBe('applied')
  })

  it('keeps the table under its bound over a long run: only the tombstones of the horizon stay', async () => {
    const perDay = 40
    let n = 0
    for (let day = 0; day < 12; day++) {
      // a day of creates and deletes (recent events, as from the relay)
      const events = []
      for (let k = 0; k < perDay; k++, n++) {
        const d = did(7000 + (n % 13))
        events.push(
          writeEvent(
            d,
            'app.bsky.feed.like',
            tid(n + 1),
            tid(n + 1),
            { subject: { uri: uriOf(did(1), 'app.bsky.feed.post', tid(1)), cid: 'bafyreib' }, createdAt },
            'create',
            iso(Date.now()),
          ),
        )
        events.push(deleteEvent(d, 'app.bsky.feed.like', tid(n + 1), tid(n + 100_000), iso(Date.now())))
      }
      const res = await indexBatch(db.database, events)
      expect(res.failed).toEqual([])
      // small batches: several statements per pass
      await pruneTombstones(db.database, { horizonMs: HORIZON, batchSize: 7 })
      // the bound: the tombstones written within the horizon (7 days of deletes)
      expect(await count('record_tombstone')).toBeLessThanOrEqual(perDay * 7)
      await ageOneDay()
    }
    await pruneTombstones(db.database, { horizonMs: HORIZON, batchSize: 7 })
    // the deletes of the last 6 days stay; those of 7 days ago have just passed the horizon
    expect(await count('record_tombstone')).toBe(perDay * 6)
    const oldest = Number((await q(`SELECT extract(epoch FROM now() - min("tombstonedAt")) AS s FROM record_tombstone`))[0].s)
    expect(oldest * 1000).toBeLessThan(HORIZON)
    const through = (await q(`SELECT "prunedThrough" t FROM tombstone_horizon`))[0].t as Date
    expect(Date.now() - through.getTime()).toBeGreaterThanOrEqual(HORIZON)
    expect(await count('"like"')).toBe(0)
  })

  it('prunes on a timer, with a metric and a log line', async () => {
    await indexBatch(db.database, [deleteEvent(did(7200), 'app.bsky.feed.like', tid(5), tid(6), iso(Date.now()))])
    await q(`UPDATE record_tombstone SET "tombstonedAt" = now() - interval '8 days'`)
    const registry = createRegistry('t2')
    const metrics = createTombstoneMetrics(registry)
    const lines: string[] = []
    const logger = createLogger('prune-test', 'info')
    const info = logger.info.bind(logger)
    logger.info = ((...args: unknown[]) => {
      lines.push(JSON.stringify(args))
      return (info as (...a: unknown[]) => void)(...args)
    }) as typeof logger.info
    const pruner = startTombstonePruner(db.database, { horizonMs: HORIZON, intervalMs: 50, metrics, logger })
    try {
      for (let i = 0; i < 200 && (await count('record_tombstone')) > 0; i++) await new Promise((r) => setTimeout(r, 50))
    } finally {
      await pruner.stop()
    }
    expect(await count('record_tombstone')).toBe(0)
    expect((await metrics.pruned.get()).values[0]?.value).toBeGreaterThanOrEqual(1)
    expect(lines.join('\n')).toMatch(/pruned tombstones older than the horizon/)
  })
})
