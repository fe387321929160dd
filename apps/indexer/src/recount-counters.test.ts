import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDb, type TestDb } from './test/db.js'
import { createdAt, did, strongRef, tid, uriOf, writeEvent } from './test/events.js'
import { indexBatch } from './writer/index-batch.js'
import { recountCounters } from './recount-counters.js'

/** The operator's recount (recount-counters.ts): counters kept by delta do not heal themselves. */
describe('recount-counters', () => {
  let db: TestDb
  beforeAll(async () => {
    db = await createTestDb()
  })
  afterAll(async () => {
    await db?.drop()
  })

  const author = did(8101)
  const post = uriOf(author, 'app.bsky.feed.post', tid(1))
  const q = (text: string, params: unknown[] = []) => db.database.pool.query(text, params)

  it('sets every counter to its base rows: rows written with the triggers off, a wrong stored count, a counter row missing', async () => {
    const events = [
      writeEvent(author, 'app.bsky.feed.post', tid(1), tid(1), { text: 'hi', createdAt }),
      ...[8102, 8103, 8104].map((n, i) =>
        writeEvent(did(n), 'app.bsky.feed.like', tid(10 + i), tid(10 + i), { subject: strongRef(post), createdAt }),
      ),
      writeEvent(did(8102), 'app.bsky.graph.follow', tid(20), tid(20), { subject: author, createdAt }),
      writeEvent(did(8102), 'app.bsky.feed.post', tid(21), tid(21), {
        text: 'a reply',
        createdAt,
        reply: { root: strongRef(post), parent: strongRef(post) },
      }),
    ]
    expect((await indexBatch(db.database, events)).failed).toEqual([])
    // an edit with the triggers off: two likes gone, one more follower, nothing counted
    const client = await db.database.pool.connect()
    try {
      await client.query('SET session_replication_role = replica')
      await client.query(`DELETE FROM "like" WHERE creator = ANY($1)`, [[did(8102), did(8103)]])
      await client.query(
        `INSERT INTO follow (uri, cid, creator, "subjectDid", "createdAt", "indexedAt") VALUES ('at://did:plc:x/app.bsky.graph.follow/1', 'c', 'did:plc:x', $1, $2, $2)`,
        [author, createdAt],
      )
      await client.query('RESET session_replication_role')
    } finally {
      client.release()
    }
    await q(`UPDATE profile_agg SET "postsCount" = 40 WHERE did = $1`, [author])
    await q(`DELETE FROM profile_agg WHERE did = $1`, [did(8102)])
    const counts = async () =>
      (
        await q(
          `SELECT p."likeCount"::int AS likes, p."replyCount"::int AS replies, a."followersCount"::int AS followers, a."postsCount"::int AS posts,
            (SELECT "followsCount"::int FROM profile_agg WHERE did = $3) AS follows
           FROM post_agg p, profile_agg a WHERE p.uri = $1 AND a.did = $2`,
          [post, author, did(8102)],
        )
      ).rows[0]
    expect(await counts()).toEqual({ likes: 3, replies: 1, followers: 1, posts: 40, follows: null })
    const res = await recountCounters(db.database, { chunk: 2 })
    expect(await counts()).toEqual({ likes: 1, replies: 1, followers: 2, posts: 1, follows: 1 })
    // the post's likes, the author's row; new rows for the liker and for the follower added by hand
    expect(res.changed).toBe(4)
    // and again: nothing left to change
    expect((await recountCounters(db.database)).changed).toBe(0)
  })

  it('can run while batches write the same keys: the counters end at their base rows', async () => {
    const hot = uriOf(author, 'app.bsky.feed.post', tid(2))
    const batches = Array.from({ length: 12 }, (_, b) =>
      Array.from({ length: 25 }, (_, i) =>
        writeEvent(did(20_000 + b * 25 + i), 'app.bsky.feed.like', tid(100 + i), tid(100 + i), { subject: strongRef(hot), createdAt }),
      ),
    )
    await q(`UPDATE post_agg SET "likeCount" = 999 WHERE uri = $1`, [post]) // something to fix meanwhile
    const writes = (async () => {
      for (let i = 0; i < batches.length; i += 3)
        await Promise.all(batches.slice(i, i + 3).map(async (b) => expect((await indexBatch(db.database, b)).failed).toEqual([])))
    })()
    const recounts = (async () => {
      for (let i = 0; i < 4; i++) await recountCounters(db.database, { chunk: 3 })
    })()
    await Promise.all([writes, recounts])
    const r = await q(
      `SELECT (SELECT "likeCount"::int FROM post_agg WHERE uri = $1) AS stored, (SELECT count(*)::int FROM "like" WHERE subject = $1) AS rows,
        (SELECT "likeCount"::int FROM post_agg WHERE uri = $2) AS fixed`,
      [hot, post],
    )
    expect(r.rows[0]).toEqual({ stored: 300, rows: 300, fixed: 1 })
  })
})
