import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { RecordWriteEvent, RepoEvent, StreamEvent } from '@firehose/streams'
import { createTestDb, type TestDb } from '../test/db.js'
import { cidFor, createdAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { indexBatch } from './index-batch.js'
import { Registry } from '@firehose/service'
import { createIndexerMetrics } from '../metrics.js'

const POST = 'app.bsky.feed.post'
const FOLLOW = 'app.bsky.graph.follow'
const LIKE = 'app.bsky.feed.like'

/** A repo's snapshot as the backfiller emits it: its records as creates at `rev`, then `repo`. */
function snapshotOf(d: string, rev: string, records: readonly RecordWriteEvent[]): StreamEvent[] {
  const time = '2026-02-01T00:00:00.000Z'
  const commit = cidFor(`commit:${d}:${rev}`)
  const creates = records.map((r): RecordWriteEvent => ({ ...r, type: 'create', seq: -2, time, commit, rev }))
  const repo: RepoEvent = { type: 'repo', seq: -2, time, did: d, commit, rev }
  return [...creates, repo]
}

describe('re-backfill reconciliation (snapshot floor)', () => {
  let db: TestDb
  beforeAll(async () => {
    db = await createTestDb()
  })
  afterAll(async () => {
    await db?.drop()
  })
  beforeEach(async () => {
    await db.database.pool.query(
      `TRUNCATE record, record_tombstone, post, feed_item, "like", follow, post_agg, profile_agg, actor, actor_sync, notification,
        op_thread_reply, duplicate_record, indexer_snapshot_floor`,
    )
  })

  const apply = async (...batches: StreamEvent[][]) => {
    for (const batch of batches) {
      const res = await indexBatch(db.database, batch)
      expect(res.failed).toEqual([])
    }
  }
  const uris = async (table: string, where = 'true') =>
    (await db.database.pool.query(`SELECT uri FROM "${table}" WHERE ${where} ORDER BY uri`)).rows.map((r: { uri: string }) => r.uri)
  const one = async (q: string, params: unknown[] = []) => (await db.database.pool.query(q, params)).rows[0] as Record<string, unknown>

  const a = did(8001)
  const b = did(8002)
  const p1 = writeEvent(a, POST, 'p1', tid(1), { text: 'one', createdAt })
  const p2 = writeEvent(a, POST, 'p2', tid(2), { text: 'two', createdAt })
  const follow = writeEvent(a, FOLLOW, 'f1', tid(3), { subject: b, createdAt })
  const like = writeEvent(b, LIKE, 'l1', tid(4), { subject: strongRef(uriOf(a, POST, 'p2')), createdAt })
  const u = (e: RecordWriteEvent) => uriOf(e.did, e.collection, e.rkey)

  it('a re-backfill after deletes lost in a gap removes the deleted records, their rows and counts', async () => {
    await apply([p1, p2, follow, like])
    expect((await one(`SELECT "postsCount"::int, "followsCount"::int FROM profile_agg WHERE did = $1`, [a])).postsCount).toBe(2)
    // p2 and the follow are deleted by commits the indexer never sees; the snapshot at rev 10 has p1 only
    const metrics = createIndexerMetrics(new Registry())
    const res = await indexBatch(db.database, snapshotOf(a, tid(10), [p1]), { metrics })
    expect(res.failed).toEqual([])
    expect(await uris('record', `did = '${a}'`)).toEqual([u(p1)])
    expect(await uris('post')).toEqual([u(p1)])
    expect(await uris('follow')).toEqual([])
    expect(await uris('feed_item', `"originatorDid" = '${a}'`)).toEqual([u(p1)])
    expect(await one(`SELECT "postsCount"::int, "followsCount"::int FROM profile_agg WHERE did = $1`, [a])).toEqual({
      postsCount: 1,
      followsCount: 0,
    })
    expect((await one(`SELECT "followersCount"::int FROM profile_agg WHERE did = $1`, [b])).followersCount).toBe(0)
    // the record the snapshot still holds (same cid) is now at the snapshot's rev
    expect((await one(`SELECT rev FROM record WHERE uri = $1`, [u(p1)])).rev).toBe(tid(10))
    // no tombstone below the floor: the floor keeps older writes out
    expect(await uris('record_tombstone')).toEqual([])
    expect((await metrics.recordsReconciled.get()).values[0]?.value).toBe(2)
    // another account's like of the deleted post stays (it is B's record)
    expect(await uris('like')).toEqual([u(like)])
    // a late delivery of the deleted records' older writes is skipped, tombstones or not
    const late = await indexBatch(db.database, [p2, follow])
    expect(late.outcomes.map((o) => o.status)).toEqual(['stale', 'stale'])
    expect(await uris('record', `did = '${a}'`)).toEqual([u(p1)])
  })

  it('a live write newer than the snapshot survives a re-backfill delivered late', async () => {
    const p3 = writeEvent(a, POST, 'p3', tid(12), { text: 'three', createdAt })
    const p1edit = writeEvent(a, POST, 'p1', tid(13), { text: 'one, edited', createdAt }, 'update')
    const p2del = deleteEvent(a, POST, 'p2', tid(11))
    await apply([p1, p2], [p2del, p3, p1edit])
    await apply(snapshotOf(a, tid(10), [p1, p2]))
    expect(await uris('record', `did = '${a}'`)).toEqual([u(p1), u(p3)])
    expect((await one(`SELECT rev, cid FROM record WHERE uri = $1`, [u(p1)])).rev).toBe(tid(13))
    expect(await uris('record_tombstone')).toEqual([u(p2)])
    expect((await one(`SELECT "postsCount"::int FROM profile_agg WHERE did = $1`, [a])).postsCount).toBe(2)
  })

  it('snapshot creates processed after their repo event survive (and in a batch of their own)', async () => {
    await apply([p1, p2, follow])
    const snap = snapshotOf(a, tid(10), [p1, follow])
    const repo = snap.at(-1) as StreamEvent
    await apply([repo], snap.slice(0, 1), snap.slice(1, 2))
    expect(await uris('record', `did = '${a}'`)).toEqual([u(p1), u(follow)].sort())
    expect(await uris('follow')).toEqual([u(follow)])
    expect(await uris('post')).toEqual([u(p1)])
    // replayed whole: nothing changes
    await apply(snap)
    expect(await uris('record', `did = '${a}'`)).toEqual([u(p1), u(follow)].sort())
  })

  it('rows written by bsky (no rev) are older than any floor', async () => {
    await apply([p1, p2])
    await db.database.pool.query(`UPDATE record SET rev = NULL WHERE did = $1`, [a])
    await apply(snapshotOf(a, tid(10), [p2]))
    expect(await uris('record', `did = '${a}'`)).toEqual([u(p2)])
    expect(await uris('post')).toEqual([u(p2)])
  })

  it('an older snapshot delivered after a newer one changes nothing', async () => {
    await apply([p1, p2, follow])
    await apply(snapshotOf(a, tid(20), [p1]))
    const before = await uris('record')
    const res = await indexBatch(db.database, snapshotOf(a, tid(10), [p1, p2, follow]))
    expect(res.outcomes.map((o) => o.status)).toEqual(['stale', 'stale', 'stale', 'applied'])
    expect(await uris('record')).toEqual(before)
    expect((await one(`SELECT rev FROM indexer_snapshot_floor WHERE did = $1`, [a])).rev).toBe(tid(20))
  })
})
