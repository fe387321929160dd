import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StreamEvent } from '@firehose/streams'
import { createTestDb, type TestDb } from '../test/db.js'
import { createdAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { indexBatch } from './index-batch.js'

/**
 * `op_thread_reply` keeps a deleted reply's row with `deletedAt` (bsky's dataplane reads it: a
 * deleted OP reply is replaced only by a newer one), whatever the order and batching: a reply
 * that arrives after its delete leaves the same row; a reply created again at the same rkey
 * after its delete is live again.
 */
describe('op_thread_reply: a deleted OP reply keeps its row, deletedAt set', () => {
  let db: TestDb
  beforeAll(async () => {
    db = await createTestDb()
  })
  afterAll(async () => {
    await db?.drop()
  })

  const op = did(7101)
  const root = uriOf(op, 'app.bsky.feed.post', tid(1))
  const rootPost = writeEvent(op, 'app.bsky.feed.post', tid(1), tid(1), { text: 'root', createdAt })
  const reply = writeEvent(op, 'app.bsky.feed.post', tid(2), tid(2), {
    text: 'more',
    createdAt,
    reply: { root: strongRef(root), parent: strongRef(root) },
  })
  const replyUri = uriOf(op, 'app.bsky.feed.post', tid(2))
  const del = deleteEvent(op, 'app.bsky.feed.post', tid(2), tid(3))
  const again = writeEvent(op, 'app.bsky.feed.post', tid(2), tid(4), {
    text: 'again',
    createdAt,
    reply: { root: strongRef(root), parent: strongRef(root) },
  })

  const rows = async () =>
    (await db.database.pool.query(`select "rootUri", "parentUri", uri, "deletedAt" from op_thread_reply order by uri`)).rows as unknown[]
  const deletedRow = [{ rootUri: root, parentUri: root, uri: replyUri, deletedAt: del.time }]
  const liveRow = [{ rootUri: root, parentUri: root, uri: replyUri, deletedAt: null }]

  const cases: [string, StreamEvent[][], unknown[]][] = [
    ['create, then delete', [[rootPost], [reply], [del]], deletedRow],
    ['in one batch', [[rootPost, reply, del]], deletedRow],
    ['delete before its create', [[rootPost], [del], [reply]], deletedRow],
    ['delete before its create, twice over', [[del], [reply, del], [reply], [rootPost]], deletedRow],
    ['created again after the delete', [[rootPost], [reply], [del], [again]], liveRow],
    ['created again, delivered first', [[again], [del], [reply], [rootPost]], liveRow],
    ['created again, all in one batch', [[del, again, reply, rootPost]], liveRow],
  ]
  for (const [name, batches, want] of cases) {
    it(name, async () => {
      await db.database.pool.query(
        `TRUNCATE record, record_tombstone, post, feed_item, op_thread_reply, post_agg, profile_agg, actor, actor_sync`,
      )
      for (const batch of batches) {
        const res = await indexBatch(db.database, batch)
        expect(res.failed).toEqual([])
      }
      expect(await rows()).toEqual(want)
    })
  }

  it('goes with a deleted account', async () => {
    await db.database.pool.query(
      `TRUNCATE record, record_tombstone, post, feed_item, op_thread_reply, post_agg, profile_agg, actor, actor_sync`,
    )
    await indexBatch(db.database, [rootPost, reply, del])
    expect(await rows()).toEqual(deletedRow)
    const gone: StreamEvent = { type: 'account', seq: 99, time: '2026-06-01T00:00:00.000Z', did: op, active: false, status: 'deleted' }
    expect((await indexBatch(db.database, [gone])).failed).toEqual([])
    expect(await rows()).toEqual([])
  })
})
