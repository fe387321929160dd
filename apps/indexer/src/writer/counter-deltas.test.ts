import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { StreamEvent } from '@firehose/streams'
import { recordModules } from '../records/index.js'
import { createTestDb, type TestDb } from '../test/db.js'
import { createdAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { indexBatch } from './index-batch.js'

/**
 * Counters kept by delta (migration 0011, writer/aggregates.ts): a batch moves a stored counter
 * by the rows it added or removed, instead of recounting every like of a viral post or every
 * follower of a large account (linear in the key's size, on every batch that touches it).
 */
describe('counters kept by delta', () => {
  let db: TestDb
  beforeAll(async () => {
    db = await createTestDb({ poolMax: 12 })
  })
  afterAll(async () => {
    await db?.drop()
  })
  beforeEach(async () => {
    await db.database.pool.query(
      `TRUNCATE record, record_tombstone, "like", follow, post, quote, repost, duplicate_record, post_agg, profile_agg`,
    )
  })

  const author = did(8001)
  const post = uriOf(author, 'app.bsky.feed.post', tid(1))
  const likeOf = (liker: string, n: number) =>
    writeEvent(liker, 'app.bsky.feed.like', tid(n), tid(n), { subject: strongRef(post), createdAt })
  const counter = async (column: string, table = 'post_agg', key = post): Promise<number | undefined> => {
    const k = table === 'post_agg' ? 'uri' : 'did'
    const r = await db.database.pool.query(`SELECT "${column}"::int AS n FROM ${table} WHERE ${k} = $1`, [key])
    return (r.rows[0] as { n: number } | undefined)?.n
  }
  const index = async (events: StreamEvent[]) => {
    const res = await indexBatch(db.database, events)
    expect(res.failed).toEqual([])
  }

  it('moves a stored counter by what the batch added and removed, without counting the base rows', async () => {
    // a stored count far from the base rows: only a recount would notice
    await db.database.pool.query(`INSERT INTO post_agg (uri, "likeCount") VALUES ($1, 100000)`, [post])
    await db.database.pool.query(`INSERT INTO profile_agg (did, "followersCount") VALUES ($1, 5000)`, [author])
    await index([likeOf(did(8002), 10), likeOf(did(8003), 11)])
    expect(await counter('likeCount')).toBe(100002)
    await index([deleteEvent(did(8002), 'app.bsky.feed.like', tid(10), tid(12))])
    expect(await counter('likeCount')).toBe(100001)
    await index([writeEvent(did(8004), 'app.bsky.graph.follow', tid(13), tid(13), { subject: author, createdAt })])
    expect(await counter('followersCount', 'profile_agg', author)).toBe(5001)
    // a replay changes nothing
    await index([likeOf(did(8003), 11), writeEvent(did(8004), 'app.bsky.graph.follow', tid(13), tid(13), { subject: author, createdAt })])
    expect(await counter('likeCount')).toBe(100001)
    expect(await counter('followersCount', 'profile_agg', author)).toBe(5001)
  })

  it("moves replyCount by the counted replies added and removed (not the ones that violate the thread's gate), without counting the post's replies", async () => {
    const root = uriOf(author, 'app.bsky.feed.post', tid(40))
    const ref = strongRef(root)
    const reply = (n: number, k: number) =>
      writeEvent(did(n), 'app.bsky.feed.post', tid(k), tid(k), { text: 'a reply', createdAt, reply: { root: ref, parent: ref } })
    await index([writeEvent(author, 'app.bsky.feed.post', tid(40), tid(40), { text: 'root', createdAt })])
    await db.database.pool.query(
      `INSERT INTO post_agg (uri, "replyCount") VALUES ($1, 5000) ON CONFLICT (uri) DO UPDATE SET "replyCount" = 5000`,
      [root],
    )
    await index([reply(8210, 41)])
    expect(await counter('replyCount', 'post_agg', root)).toBe(5001)
    // the root's author closes the thread: a later reply violates its gate and is not counted
    await index([writeEvent(author, 'app.bsky.feed.threadgate', tid(40), tid(42), { post: root, allow: [], createdAt })])
    await index([reply(8211, 43)])
    expect(await counter('replyCount', 'post_agg', root)).toBe(5001)
    await index([
      deleteEvent(did(8211), 'app.bsky.feed.post', tid(43), tid(44)),
      deleteEvent(did(8210), 'app.bsky.feed.post', tid(41), tid(45)),
    ])
    expect(await counter('replyCount', 'post_agg', root)).toBe(5000)
    // a flag changed from outside the indexer moves the count too
    await index([reply(8212, 46)]) // violates
    await db.database.pool.query(`UPDATE post SET "violatesThreadGate" = false WHERE creator = $1`, [did(8212)])
    expect(await counter('replyCount', 'post_agg', root)).toBe(5001)
    await db.database.pool.query(`UPDATE post SET "violatesThreadGate" = true WHERE creator = $1`, [did(8212)])
    expect(await counter('replyCount', 'post_agg', root)).toBe(5000)
  })

  it('counts a counter row that does not exist yet from the base rows', async () => {
    await index([likeOf(did(8002), 10), likeOf(did(8003), 11)])
    await db.database.pool.query(`DELETE FROM post_agg`)
    await index([likeOf(did(8005), 14)])
    expect(await counter('likeCount')).toBe(3)
  })

  it('moves counters on writes from outside the indexer too (an operator, an older indexer)', async () => {
    await index([likeOf(did(8002), 10), likeOf(did(8003), 11), likeOf(did(8005), 14)])
    expect(await counter('likeCount')).toBe(3)
    await db.database.pool.query(`DELETE FROM "like" WHERE creator = $1`, [did(8002)])
    expect(await counter('likeCount')).toBe(2)
    await db.database.pool.query(`UPDATE "like" SET subject = 'at://elsewhere' WHERE creator = $1`, [did(8003)])
    expect(await counter('likeCount')).toBe(1)
    expect(await counter('likeCount', 'post_agg', 'at://elsewhere')).toBe(1)
  })

  it('ends with the counts of the base rows when batches write one key concurrently', async () => {
    const likers = Array.from({ length: 160 }, (_, i) => did(9000 + i))
    const batches: StreamEvent[][] = []
    for (let b = 0; b < 16; b++) {
      const mine = likers.slice(b * 10, b * 10 + 10)
      const events: StreamEvent[] = mine.map((l, i) => likeOf(l, 100 + i))
      // every other batch also unlikes what the batch before it liked, and follows the author
      if (b % 2 === 1)
        for (const [i, l] of likers.slice((b - 1) * 10, b * 10).entries())
          events.push(deleteEvent(l, 'app.bsky.feed.like', tid(100 + i), tid(200 + i)))
      events.push(writeEvent(mine[0] as string, 'app.bsky.graph.follow', tid(300), tid(300), { subject: author, createdAt }))
      batches.push(events)
    }
    await Promise.all(batches.map((b) => indexBatch(db.database, b)))
    const truth = await db.database.pool.query(
      `SELECT (SELECT count(*)::int FROM "like" WHERE subject = $1) AS likes, (SELECT count(*)::int FROM follow WHERE "subjectDid" = $2) AS follows`,
      [post, author],
    )
    const { likes, follows } = truth.rows[0] as { likes: number; follows: number }
    expect(likes).toBe(80)
    expect(follows).toBe(16)
    expect(await counter('likeCount')).toBe(likes)
    expect(await counter('followersCount', 'profile_agg', author)).toBe(follows)
  })

  it('has the triggers of migration 0011 for exactly the counters the record modules keep by delta', async () => {
    const declared = recordModules
      .flatMap((m) => m.aggregates ?? [])
      .flatMap((a) =>
        a.delta ? [`${a.rows.base}.${a.rows.column} → ${a.table}.${a.kind}${a.rows.where ? ` where ${a.rows.where}` : ''}`] : [],
      )
      .sort()
    const r = await db.database.pool.query(
      `SELECT c.relname AS base, t.tgname AS name, encode(t.tgargs, 'escape') AS args FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND t.tgname LIKE 'indexer\\_%'`,
    )
    const found = new Map<string, string[]>()
    for (const row of r.rows as { base: string; name: string; args: string }[]) {
      const [table, , counter, column, where] = row.args.split('\\000')
      const pair = `${row.base}.${column} → ${table}.${counter}${where ? ` where ${where}` : ''}`
      found.set(pair, [...(found.get(pair) ?? []), row.name.replace(/^.*_/, '')].sort())
    }
    expect([...found.keys()].sort()).toEqual(declared)
    for (const ops of found.values()) expect(ops).toEqual(['del', 'ins', 'upd'])
  })
})
