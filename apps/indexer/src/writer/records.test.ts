import { describe, expect, it } from 'vitest'
import { cidFor, createdAt, deleteEvent, did, strongRef, uriOf, writeEvent } from '../test/events.js'
import { POST, recordsTestSetup } from '../test/records-setup.js'
import { indexBatch } from './index-batch.js'

const t = recordsTestSetup()
const { next, q, one } = t

describe('app.bsky.feed.post', () => {
  it('create writes post, record, feed_item, reply fields, parent replyCount and postsCount', async () => {
    const a = did(1)
    const b = did(2)
    const root = uriOf(a, POST, 'root')
    const e1 = writeEvent(a, POST, 'root', next(), { text: 'root', createdAt, langs: ['en'] })
    const e2 = writeEvent(b, POST, 'reply', next(), {
      text: 'reply',
      createdAt,
      reply: { root: strongRef(root), parent: strongRef(root) },
      embed: { $type: 'app.bsky.embed.record', record: strongRef(root) },
    })
    const res = await indexBatch(t.database, [e1, e2])
    expect(res.outcomes.map((o) => o.status)).toEqual(['applied', 'applied'])
    const reply = await one(`SELECT * FROM post WHERE uri = $1`, [uriOf(b, POST, 'reply')])
    expect(reply).toMatchObject({
      creator: b,
      text: 'reply',
      replyRoot: root,
      replyParent: root,
      replyRootCid: cidFor(root),
      createdAt,
      sortAt: createdAt,
    })
    expect((await one(`SELECT langs FROM post WHERE uri = $1`, [root])).langs).toEqual(['en'])
    expect(await one(`SELECT rev, cid, did FROM record WHERE uri = $1`, [root])).toEqual({ rev: e1.rev, cid: e1.cid, did: a })
    expect(await q(`SELECT uri, type, "postUri", "originatorDid" FROM feed_item ORDER BY uri`)).toEqual([
      { uri: root, type: 'post', postUri: root, originatorDid: a },
      { uri: uriOf(b, POST, 'reply'), type: 'post', postUri: uriOf(b, POST, 'reply'), originatorDid: b },
    ])
    const agg = await one(`SELECT "replyCount"::int, "quoteCount"::int FROM post_agg WHERE uri = $1`, [root])
    expect(agg).toEqual({ replyCount: 1, quoteCount: 1 })
    expect(await one(`SELECT "postsCount"::int FROM profile_agg WHERE did = $1`, [b])).toEqual({ postsCount: 1 })
    expect(await one(`SELECT "embedUri" FROM post_embed_record WHERE "postUri" = $1`, [uriOf(b, POST, 'reply')])).toEqual({
      embedUri: root,
    })

    // update: new text, no reply; the parent's count goes back to 0
    const e3 = writeEvent(b, POST, 'reply', next(), { text: 'edited', createdAt }, 'update')
    expect((await indexBatch(t.database, [e3])).outcomes[0]?.status).toBe('applied')
    expect(await one(`SELECT text, "replyParent" FROM post WHERE uri = $1`, [uriOf(b, POST, 'reply')])).toEqual({
      text: 'edited',
      replyParent: null,
    })
    expect(await one(`SELECT "replyCount"::int, "quoteCount"::int FROM post_agg WHERE uri = $1`, [root])).toEqual({
      replyCount: 0,
      quoteCount: 0,
    })
    expect(await q(`SELECT * FROM post_embed_record`)).toEqual([])

    // delete: rows go, tombstone stays, counts follow
    const e4 = deleteEvent(b, POST, 'reply', next())
    expect((await indexBatch(t.database, [e4])).outcomes[0]?.status).toBe('applied')
    expect(await q(`SELECT * FROM post WHERE uri = $1`, [uriOf(b, POST, 'reply')])).toEqual([])
    expect(await q(`SELECT * FROM record WHERE uri = $1`, [uriOf(b, POST, 'reply')])).toEqual([])
    expect(await q(`SELECT * FROM feed_item WHERE uri = $1`, [uriOf(b, POST, 'reply')])).toEqual([])
    expect(await one(`SELECT rev FROM record_tombstone WHERE uri = $1`, [uriOf(b, POST, 'reply')])).toEqual({ rev: e4.rev })
    expect(await one(`SELECT "postsCount"::int FROM profile_agg WHERE did = $1`, [b])).toEqual({ postsCount: 0 })

    // a late, older create cannot resurrect it; a replay is unchanged
    expect((await indexBatch(t.database, [e2])).outcomes[0]?.status).toBe('stale')
    expect(await q(`SELECT * FROM post WHERE uri = $1`, [uriOf(b, POST, 'reply')])).toEqual([])
    expect((await indexBatch(t.database, [e1])).outcomes[0]?.status).toBe('unchanged')
    // the delete again is unchanged; an older delete is stale
    expect((await indexBatch(t.database, [e4])).outcomes[0]?.status).toBe('unchanged')
    expect((await indexBatch(t.database, [deleteEvent(b, POST, 'reply', e3.rev)])).outcomes[0]?.status).toBe('stale')
  })
})

describe('app.bsky.feed.like / repost', () => {
  it('like and repost rows, feed_item for reposts, counts recounted, duplicates resolved', async () => {
    const a = did(10)
    const subject = 'at://did:plc:other/app.bsky.feed.post/p1'
    const l1 = writeEvent(a, 'app.bsky.feed.like', 'l1', next(), { subject: strongRef(subject), createdAt })
    const l2 = writeEvent(a, 'app.bsky.feed.like', 'l0', next(), { subject: strongRef(subject), createdAt }) // duplicate, lower uri
    const r1 = writeEvent(a, 'app.bsky.feed.repost', 'r1', next(), { subject: strongRef(subject), createdAt })
    const res = await indexBatch(t.database, [l1, r1])
    expect(res.outcomes.map((o) => o.status)).toEqual(['applied', 'applied'])
    expect(await one(`SELECT "likeCount"::int, "repostCount"::int FROM post_agg WHERE uri = $1`, [subject])).toEqual({
      likeCount: 1,
      repostCount: 1,
    })
    expect(
      await one(`SELECT type, "postUri", "originatorDid" FROM feed_item WHERE uri = $1`, [uriOf(a, 'app.bsky.feed.repost', 'r1')]),
    ).toEqual({
      type: 'repost',
      postUri: subject,
      originatorDid: a,
    })
    await indexBatch(t.database, [l2])
    // one like per creator and subject: the lowest uri is kept, the other is a duplicate
    expect(await q(`SELECT uri FROM "like" WHERE creator = $1`, [a])).toEqual([{ uri: uriOf(a, 'app.bsky.feed.like', 'l0') }])
    expect(await q(`SELECT uri, "duplicateOf" FROM duplicate_record`)).toEqual([
      { uri: uriOf(a, 'app.bsky.feed.like', 'l1'), duplicateOf: uriOf(a, 'app.bsky.feed.like', 'l0') },
    ])
    expect(await one(`SELECT "likeCount"::int FROM post_agg WHERE uri = $1`, [subject])).toEqual({ likeCount: 1 })
    // deleting the kept one promotes the duplicate
    await indexBatch(t.database, [deleteEvent(a, 'app.bsky.feed.like', 'l0', next())])
    expect(await q(`SELECT uri FROM "like" WHERE creator = $1`, [a])).toEqual([{ uri: uriOf(a, 'app.bsky.feed.like', 'l1') }])
    expect(await q(`SELECT * FROM duplicate_record`)).toEqual([])
    expect(await one(`SELECT "likeCount"::int FROM post_agg WHERE uri = $1`, [subject])).toEqual({ likeCount: 1 })
    await indexBatch(t.database, [deleteEvent(a, 'app.bsky.feed.like', 'l1', next()), deleteEvent(a, 'app.bsky.feed.repost', 'r1', next())])
    expect(await one(`SELECT "likeCount"::int, "repostCount"::int FROM post_agg WHERE uri = $1`, [subject])).toEqual({
      likeCount: 0,
      repostCount: 0,
    })
    expect(await q(`SELECT * FROM feed_item WHERE "originatorDid" = $1`, [a])).toEqual([])
  })
})

describe('app.bsky.graph.follow / block, app.bsky.actor.profile', () => {
  it('follow counts both sides; block → actor_block; profile only for rkey self', async () => {
    const a = did(20)
    const b = did(21)
    const f = writeEvent(a, 'app.bsky.graph.follow', 'f1', next(), { subject: b, createdAt })
    const bl = writeEvent(b, 'app.bsky.graph.block', 'b1', next(), { subject: a, createdAt })
    const p = writeEvent(a, 'app.bsky.actor.profile', 'self', next(), {
      displayName: 'A',
      description: 'about',
      avatar: { $type: 'blob', ref: { $link: cidFor('img') }, mimeType: 'image/png', size: 3 },
    })
    const pOther = writeEvent(a, 'app.bsky.actor.profile', 'other', next(), { displayName: 'no' })
    const res = await indexBatch(t.database, [f, bl, p, pOther])
    expect(res.outcomes.map((o) => o.status)).toEqual(['applied', 'applied', 'applied', 'applied'])
    expect(await one(`SELECT creator, "subjectDid" FROM follow`)).toEqual({ creator: a, subjectDid: b })
    expect(await one(`SELECT "followsCount"::int FROM profile_agg WHERE did = $1`, [a])).toEqual({ followsCount: 1 })
    expect(await one(`SELECT "followersCount"::int FROM profile_agg WHERE did = $1`, [b])).toEqual({ followersCount: 1 })
    expect(await one(`SELECT creator, "subjectDid" FROM actor_block`)).toEqual({ creator: b, subjectDid: a })
    expect(await q(`SELECT "displayName", description, "avatarCid" FROM profile`)).toEqual([
      { displayName: 'A', description: 'about', avatarCid: cidFor('img') },
    ])
    expect(await q(`SELECT uri FROM record WHERE uri = $1`, [uriOf(a, 'app.bsky.actor.profile', 'other')])).toHaveLength(1)
    expect(await q(`SELECT did FROM actor WHERE did = ANY($1) ORDER BY did`, [[a, b]])).toEqual([{ did: a }, { did: b }])

    await indexBatch(t.database, [writeEvent(a, 'app.bsky.actor.profile', 'self', next(), { displayName: 'A2' }, 'update')])
    expect(await q(`SELECT "displayName", "avatarCid" FROM profile`)).toEqual([{ displayName: 'A2', avatarCid: null }])
    await indexBatch(t.database, [
      deleteEvent(a, 'app.bsky.graph.follow', 'f1', next()),
      deleteEvent(b, 'app.bsky.graph.block', 'b1', next()),
      deleteEvent(a, 'app.bsky.actor.profile', 'self', next()),
    ])
    expect(await q(`SELECT * FROM follow`)).toEqual([])
    expect(await q(`SELECT * FROM actor_block`)).toEqual([])
    expect(await q(`SELECT * FROM profile`)).toEqual([])
    expect(await one(`SELECT "followersCount"::int FROM profile_agg WHERE did = $1`, [b])).toEqual({ followersCount: 0 })
  })
})
