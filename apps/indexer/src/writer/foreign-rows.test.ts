import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDb, type TestDb } from '../test/db.js'
import { cidFor, createdAt, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { indexBatch } from './index-batch.js'

/** Rows another writer left (e.g. an old indexer, or a `record` row lost) must not wedge a batch. */
describe('rows without a record row', () => {
  let t: TestDb
  beforeAll(async () => {
    t = await createTestDb()
  })
  afterAll(async () => {
    await t?.drop()
  })

  it('a post or like already in its table (but not in record) is replaced, not a failure', async () => {
    const a = did(300)
    const postUri = uriOf(a, 'app.bsky.feed.post', 'p')
    const likeUri = uriOf(a, 'app.bsky.feed.like', 'l')
    const subject = 'at://did:plc:z/app.bsky.feed.post/s'
    await t.database.pool.query(`INSERT INTO post (uri, cid, creator, text, "createdAt", "indexedAt") VALUES ($1, $2, $3, 'old', $4, $4)`, [
      postUri,
      cidFor('old'),
      a,
      createdAt,
    ])
    await t.database.pool.query(
      `INSERT INTO "like" (uri, cid, creator, subject, "subjectCid", "createdAt", "indexedAt") VALUES ($1, $2, $3, $4, $5, $6, $6)`,
      [likeUri, cidFor('oldlike'), a, 'at://did:plc:z/app.bsky.feed.post/old', cidFor('x'), createdAt],
    )
    const res = await indexBatch(t.database, [
      writeEvent(a, 'app.bsky.feed.post', 'p', tid(1), { text: 'new', createdAt }),
      writeEvent(a, 'app.bsky.feed.like', 'l', tid(2), { subject: strongRef(subject), createdAt }),
    ])
    expect(res.isolated).toBe(false)
    expect(res.outcomes.map((o) => o.status)).toEqual(['applied', 'applied'])
    expect((await t.database.pool.query(`SELECT text FROM post WHERE uri = $1`, [postUri])).rows).toEqual([{ text: 'new' }])
    expect((await t.database.pool.query(`SELECT subject FROM "like" WHERE uri = $1`, [likeUri])).rows).toEqual([{ subject }])
    expect((await t.database.pool.query(`SELECT * FROM duplicate_record`)).rows).toEqual([])
    const agg = await t.database.pool.query(`SELECT uri, "likeCount"::int FROM post_agg ORDER BY uri`)
    expect(agg.rows).toEqual([
      { uri: 'at://did:plc:z/app.bsky.feed.post/old', likeCount: 0 },
      { uri: subject, likeCount: 1 },
    ])
  })
})
