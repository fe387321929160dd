/**
 * The bulk load (INDEXER_MODE=bulk, bulk/finish.ts) against the normal path on the same events:
 * every table equal once the load is finished. The workload has updates and deletes, 20%
 * duplicates, posts whose text holds U+0000 and backslashes, a re-backfill (a snapshot and its
 * `repo` event), four concurrent bulk writers, a live writer in normal mode during the load and
 * during the finish, a batch whose Postgres backend is killed mid-transaction (redelivered, as
 * an unacked entry is) and a finish killed mid-way and run again.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StreamEvent } from '@firehose/streams'
import { createDb, type Database } from '../db/database.js'
import { createTestDb, type TestDb } from '../test/db.js'
import { did } from '../test/events.js'
import { opsOf, snapshotAt } from '../test/rebackfill.js'
import { snapshot, TABLES } from '../test/tables.js'
import { generateHistory, rng, shuffle } from '../test/workload.js'
import { indexBatch } from '../writer/index-batch.js'
import { finishBulkLoad } from './finish.js'
import { readBulkLoad, startBulkLoad, stateOf } from './load.js'

/** Some posts' text with a backslash and U+0000 (stored as U+FFFD by both paths: writer/pg-text.ts). */
function withAwkwardText(events: StreamEvent[]): StreamEvent[] {
  return events.map((e, i) =>
    (e.type === 'create' || e.type === 'update') && e.collection === 'app.bsky.feed.post' && i % 5 === 0
      ? { ...e, record: { ...e.record, text: `a\\b\\\\c \u0000 "q" \\u0000 ${String(e.record.text ?? '')}` } }
      : e,
  )
}

async function apply(database: Database, batch: StreamEvent[], bulk: boolean): Promise<number> {
  const res = await indexBatch(database, batch, { bulk })
  return res.failed.length
}

/** Terminate every backend of `db` but the caller's, once one of them is inside a transaction (and `also` holds). */
async function killWhenInTransaction(db: TestDb, until: Promise<unknown>, also = 'true'): Promise<boolean> {
  const c = new pg.Client({ connectionString: db.directUrl })
  await c.connect()
  let done = false
  void until.then(
    () => (done = true),
    () => (done = true),
  )
  try {
    while (!done) {
      const r = await c.query(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL AND state <> 'idle' AND ${also}`,
      )
      if ((r.rows[0] as { n: number }).n > 0) return true
      await new Promise((res) => setTimeout(res, 2))
    }
    return false
  } finally {
    await c.end()
  }
}

describe('bulk load == normal path', () => {
  let normal: TestDb
  let bulk: TestDb
  beforeAll(async () => {
    ;[normal, bulk] = await Promise.all([createTestDb(), createTestDb()])
  })
  afterAll(async () => {
    await Promise.all([normal?.drop(), bulk?.drop()])
  })

  it('gives the same tables: duplicates, deletes, U+0000 and backslashes, a re-backfill, live writes, a killed batch and a killed finish', async () => {
    const history = withAwkwardText(generateHistory(21, 5, 900))
    // did 3 re-backfilled at 70% of its ops: its snapshot and `repo` event come with the rest
    const idx = opsOf(history, did(3))
    const snap = snapshotAt(history, did(3), idx[Math.floor(idx.length * 0.7)] as number)
    const all = [...history, ...snap.events]
    const r = rng(21)
    // the live part: did 5's events go through a normal-mode writer, during the load and the finish
    const live = all.filter((e) => e.did === did(5))
    const backfill = shuffle(
      r,
      [...all, ...all.filter(() => r() < 0.2)].filter((e) => e.did !== did(5)),
    )
    const batches: StreamEvent[][] = []
    for (let i = 0; i < backfill.length; i += 40) batches.push(backfill.slice(i, i + 40))

    // normal path, rev order, one writer
    for (let i = 0; i < all.length; i += 50) expect(await apply(normal.database, all.slice(i, i + 50), false)).toBe(0)

    await startBulkLoad(bulk.database)
    await expect(startBulkLoad(bulk.database)).rejects.toThrow(/already open/)
    // a crash: one batch's backend killed inside its transaction; the batch is redelivered
    const crashed = createDb(bulk.url, 1)
    let killed = false
    try {
      for (let attempt = 0; attempt < 20 && !killed; attempt++) {
        const batch = batches[attempt] as StreamEvent[]
        const writing = apply(crashed, batch, true)
        killed = await killWhenInTransaction(bulk, writing)
        const failed = await writing
        if (killed) expect(failed).toBeGreaterThan(0)
      }
    } finally {
      await crashed.close().catch(() => {})
    }
    expect(killed, 'a bulk batch was killed mid-transaction').toBe(true)
    // four bulk writers (their own handles, as four processes) and one live writer in normal mode
    const handles = Array.from({ length: 4 }, () => createDb(bulk.url, 2))
    const liveHandle = createDb(bulk.url, 2)
    try {
      let next = 0
      const liveHalf = Math.floor(live.length / 2)
      await Promise.all([
        ...handles.map(async (h) => {
          for (let batch = batches[next++]; batch; batch = batches[next++]) expect(await apply(h, batch, true)).toBe(0)
        }),
        (async () => {
          for (let i = 0; i < liveHalf; i += 10) expect(await apply(liveHandle, live.slice(i, Math.min(i + 10, liveHalf)), false)).toBe(0)
        })(),
      ])
      // derived state was deferred: no notification yet of the bulk writers' likes, reposts and
      // follows (the live writer's posts notify the authors of their bulk-written ancestors)
      const deferred = await bulk.database.pool.query(
        `SELECT count(*)::int AS n FROM notification WHERE author <> $1 AND reason IN ('like', 'repost', 'follow')`,
        [did(5)],
      )
      expect((deferred.rows[0] as { n: number }).n).toBe(0)

      // a finish killed mid-way, then run again; the live writer goes on meanwhile
      const first = createDb(bulk.url, 1)
      const finishing = finishBulkLoad(first, { chunk: 20 })
      const finishKilled = await killWhenInTransaction(
        bulk,
        finishing,
        `EXISTS (SELECT 1 FROM indexer_bulk_load WHERE step = 'derive' AND "after" <> '')`,
      )
      await finishing.catch(() => {})
      await first.close().catch(() => {})
      expect(finishKilled, 'the finish was killed mid-way').toBe(true)
      expect(stateOf(await readBulkLoad(bulk.database))).toBe('finishing')
      await Promise.all([
        finishBulkLoad(bulk.database, { chunk: 20 }),
        (async () => {
          for (let i = liveHalf; i < live.length; i += 10) expect(await apply(liveHandle, live.slice(i, i + 10), false)).toBe(0)
        })(),
      ])
      expect(stateOf(await readBulkLoad(bulk.database))).toBe('finished')
      // and the tables analyzed: the live writers' kept plans (made on the empty tables) are
      // made again with the loaded tables' statistics
      const unanalyzed = await bulk.database.pool.query(`SELECT relname FROM pg_stat_user_tables
        WHERE relname IN ('post', 'like', 'follow', 'record', 'notification') AND last_analyze IS NULL ORDER BY relname`)
      expect(unanalyzed.rows).toEqual([])
    } finally {
      await Promise.all([...handles, liveHandle].map((h) => h.close()))
    }

    const [sn, sb] = await Promise.all([snapshot(normal), snapshot(bulk)])
    expect(sn.notification?.length, 'the workload notifies').toBeGreaterThan(50)
    expect(sn.post_agg?.length).toBeGreaterThan(0)
    expect(
      sn.post?.some((p) => p.includes('a\\\\b')),
      'a backslash stored',
    ).toBe(true)
    expect(
      sn.post?.some((p) => p.includes('\ufffd')),
      'U+0000 stored as U+FFFD',
    ).toBe(true)
    expect(
      sn.post?.some((p) => p.includes('"violatesThreadGate":"true"')),
      'a reply violates its gate',
    ).toBe(true)
    expect(sn.duplicate_record?.length, 'duplicates').toBeGreaterThan(0)
    expect(sn.record_tombstone?.length, 'deletes').toBeGreaterThan(0)
    for (const [table] of TABLES) expect(sb[table], table).toEqual(sn[table])
  })
})
