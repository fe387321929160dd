import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDb, type TestDb } from '../test/db.js'
import { firehoseMix } from '../test/bench-workload.js'
import { sql } from 'kysely'
import { indexBatch } from './index-batch.js'
import { prepareEvents } from './prepare.js'

/**
 * A quick throughput measurement (not a pass/fail benchmark): INDEXER_BENCH=1 to run.
 * indexBatch over 20k generated creates in batches of 500 through pgbouncer.
 */
describe.skipIf(!process.env.INDEXER_BENCH)('indexBatch throughput', () => {
  let t: TestDb
  beforeAll(async () => {
    t = await createTestDb({ poolMax: 8 })
  })
  afterAll(async () => {
    await t?.drop()
  })

  for (const concurrency of [1, 4]) {
    it(`20k events, batches of 500, ${concurrency} batch(es) at a time`, async () => {
      const events = firehoseMix(20_000, 5000, concurrency)
      const batches: (typeof events)[] = []
      for (let i = 0; i < events.length; i += 500) batches.push(events.slice(i, i + 500))
      const start = performance.now()
      let nextBatch = 0
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (nextBatch < batches.length) {
            const batch = batches[nextBatch++]
            if (!batch) break
            const res = await indexBatch(t.database, batch)
            expect(res.failed).toEqual([])
          }
        }),
      )
      const secs = (performance.now() - start) / 1000
      console.log(
        `[bench] concurrency ${concurrency}: ${events.length} events in ${secs.toFixed(2)}s = ${Math.round(events.length / secs)} events/s`,
      )
    })
  }

  it('baseline in the same run: row by row (2 single-row statements per event), transactions of 500', async () => {
    const events = firehoseMix(20_000, 5000, 9)
    await t.database.pool.query('CREATE TABLE IF NOT EXISTS baseline_row (uri text PRIMARY KEY, creator text, body text)')
    const start = performance.now()
    for (let i = 0; i < events.length; i += 500) {
      const batch = events.slice(i, i + 500)
      prepareEvents(batch) // the same validation work
      await t.database.db.transaction().execute(async (trx) => {
        for (const e of batch) {
          if (e.type !== 'create') continue
          const uri = `at://${e.did}/${e.collection}/${e.rkey}`
          await sql`INSERT INTO record (uri, cid, did, json, "indexedAt", rev) VALUES (${uri}, ${e.cid}, ${e.did}, ${JSON.stringify(e.record)}, ${e.time}, ${e.rev}) ON CONFLICT DO NOTHING`.execute(
            trx,
          )
          await sql`INSERT INTO baseline_row (uri, creator, body) VALUES (${uri}, ${e.did}, ${JSON.stringify(e.record)}) ON CONFLICT DO NOTHING`.execute(
            trx,
          )
        }
      })
    }
    const secs = (performance.now() - start) / 1000
    console.log(
      `[bench] baseline row-by-row: ${events.length} events in ${secs.toFixed(2)}s = ${Math.round(events.length / secs)} events/s`,
    )
  })
})
