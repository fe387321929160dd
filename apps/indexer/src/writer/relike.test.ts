import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StreamEvent } from '@firehose/streams'
import { createTestDb, type TestDb } from '../test/db.js'
import { createdAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { indexBatch } from './index-batch.js'

/**
 * Like, unlike, like again of the same post (what people do, and what the e2e activity does):
 * in any batching and order, the second like must end in `record` and `like`.
 */
describe('like → unlike → like again of the same subject', () => {
  let db: TestDb
  beforeAll(async () => {
    db = await createTestDb()
  })
  afterAll(async () => {
    await db?.drop()
  })

  const author = did(7001)
  const liker = did(7002)
  const post = uriOf(author, 'app.bsky.feed.post', tid(1))
  const a = writeEvent(liker, 'app.bsky.feed.like', tid(10), tid(10), { subject: strongRef(post), createdAt })
  const del = deleteEvent(liker, 'app.bsky.feed.like', tid(10), tid(11))
  const b = writeEvent(liker, 'app.bsky.feed.like', tid(12), tid(12), { subject: strongRef(post), createdAt })
  const bUri = uriOf(liker, 'app.bsky.feed.like', tid(12))

  const orders: [string, StreamEvent[][]][] = [
    ['one batch', [[a, del, b]]],
    ['one batch, shuffled', [[b, a, del]]],
    ['one by one', [[a], [del], [b]]],
    ['create B before the delete of A', [[a], [b], [del]]],
    ['B, then A, then delete', [[b], [a], [del]]],
    ['A and B together, delete later', [[a, b], [del]]],
  ]
  for (const [name, batches] of orders) {
    it(name, async () => {
      await db.database.pool.query(`TRUNCATE record, record_tombstone, "like", duplicate_record, post_agg, actor, actor_sync`)
      for (const batch of batches) {
        const res = await indexBatch(db.database, batch)
        expect(res.failed).toEqual([])
      }
      const rec = await db.database.pool.query(`select uri from record where did = $1`, [liker])
      const likes = await db.database.pool.query(`select uri from "like" where creator = $1`, [liker])
      expect(rec.rows.map((r: { uri: string }) => r.uri)).toEqual([bUri])
      expect(likes.rows.map((r: { uri: string }) => r.uri)).toEqual([bUri])
    })
  }
})
