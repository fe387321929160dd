import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDb, type TestDb } from '../test/db.js'
import { cidFor, createdAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { indexBatch } from './index-batch.js'

let t: TestDb
let rev = 100
const next = () => tid(rev++)
const q = async (text: string, params: unknown[] = []) => (await t.database.pool.query(text, params)).rows
const one = async (text: string, params: unknown[] = []) => (await q(text, params))[0]
const POST = 'app.bsky.feed.post'

beforeAll(async () => {
  t = await createTestDb()
})
afterAll(async () => {
  await t?.drop()
})

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
    expect(reply).toMatchObject({ creator: b, text: 'reply', replyRoot: root, replyParent: root, replyRootCid: cidFor(root), createdAt, sortAt: createdAt })
    expect((await one(`SELECT langs FROM post WHERE uri = $1`, [root])).langs).toEqual(['en'])
    expect(await one(`SELECT rev, cid, did FROM record WHERE uri = $1`, [root])).toEqual({ rev: e1.rev, cid: e1.cid, did: a })
    expect(await q(`SELECT uri, type, "postUri", "originatorDid" FROM feed_item ORDER BY uri`)).toEqual([
      { uri: root, type: 'post', postUri: root, originatorDid: a },
      { uri: uriOf(b, POST, 'reply'), type: 'post', postUri: uriOf(b, POST, 'reply'), originatorDid: b },
    ])
    const agg = await one(`SELECT "replyCount"::int, "quoteCount"::int FROM post_agg WHERE uri = $1`, [root])
    expect(agg).toEqual({ replyCount: 1, quoteCount: 1 })
    expect(await one(`SELECT "postsCount"::int FROM profile_agg WHERE did = $1`, [b])).toEqual({ postsCount: 1 })
    expect(await one(`SELECT "embedUri" FROM post_embed_record WHERE "postUri" = $1`, [uriOf(b, POST, 'reply')])).toEqual({ embedUri: root })

    // update: new text, no reply; the parent's count goes back to 0
    const e3 = writeEvent(b, POST, 'reply', next(), { text: 'edited', createdAt }, 'update')
    expect((await indexBatch(t.database, [e3])).outcomes[0]?.status).toBe('applied')
    expect(await one(`SELECT text, "replyParent" FROM post WHERE uri = $1`, [uriOf(b, POST, 'reply')])).toEqual({ text: 'edited', replyParent: null })
    expect(await one(`SELECT "replyCount"::int, "quoteCount"::int FROM post_agg WHERE uri = $1`, [root])).toEqual({ replyCount: 0, quoteCount: 0 })
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
    expect(await one(`SELECT "likeCount"::int, "repostCount"::int FROM post_agg WHERE uri = $1`, [subject])).toEqual({ likeCount: 1, repostCount: 1 })
    expect(await one(`SELECT type, "postUri", "originatorDid" FROM feed_item WHERE uri = $1`, [uriOf(a, 'app.bsky.feed.repost', 'r1')])).toEqual({
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
    expect(await one(`SELECT "likeCount"::int, "repostCount"::int FROM post_agg WHERE uri = $1`, [subject])).toEqual({ likeCount: 0, repostCount: 0 })
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
    expect(await q(`SELECT "displayName", description, "avatarCid" FROM profile`)).toEqual([{ displayName: 'A', description: 'about', avatarCid: cidFor('img') }])
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

describe('validation, unknown collections, actors', () => {
  it('skips invalid records, keeps unknown collections in record, moves actor_sync forward only', async () => {
    const a = did(30)
    const bad = writeEvent(a, 'app.bsky.feed.like', 'bad', next(), { subject: 'not a ref', createdAt })
    const unknown = writeEvent(a, 'com.example.thing', 'x1', next(), { anything: [1, 2, { $link: cidFor('z') }] })
    const res = await indexBatch(t.database, [bad, unknown])
    expect(res.outcomes.map((o) => o.status)).toEqual(['invalid', 'applied'])
    expect(res.outcomes[0]?.error?.name).toBe('InvalidRecordError')
    expect(await q(`SELECT uri FROM record WHERE did = $1`, [a])).toEqual([{ uri: uriOf(a, 'com.example.thing', 'x1') }])
    const sync = await one(`SELECT "repoRev", "commitCid" FROM actor_sync WHERE did = $1`, [a])
    expect(sync).toEqual({ repoRev: unknown.rev, commitCid: unknown.commit })
    const older = { type: 'repo' as const, seq: 1, time: createdAt, did: a, commit: cidFor('old'), rev: tid(1) }
    await indexBatch(t.database, [older])
    expect(await one(`SELECT "repoRev" FROM actor_sync WHERE did = $1`, [a])).toEqual({ repoRev: unknown.rev })
    const newer = { ...older, commit: cidFor('new'), rev: next() }
    await indexBatch(t.database, [newer])
    expect(await one(`SELECT "repoRev", "commitCid" FROM actor_sync WHERE did = $1`, [a])).toEqual({ repoRev: newer.rev, commitCid: newer.commit })
  })

  it('identity sets the handle (taking it from a previous holder); account sets upstreamStatus; deleted removes records', async () => {
    const a = did(40)
    const b = did(41)
    const time = '2026-01-02T00:00:00.000Z'
    await indexBatch(t.database, [
      { type: 'identity', seq: 1, time, did: a, handle: 'Alice.test' },
      writeEvent(a, POST, 'p1', next(), { text: 'x', createdAt }),
      writeEvent(b, 'app.bsky.feed.like', 'l1', next(), { subject: strongRef(uriOf(a, POST, 'p1')), createdAt }),
      writeEvent(a, 'app.bsky.feed.like', 'l1', next(), { subject: strongRef(uriOf(b, POST, 'zz')), createdAt }),
    ])
    expect(await one(`SELECT handle FROM actor WHERE did = $1`, [a])).toEqual({ handle: 'alice.test' })
    await indexBatch(t.database, [{ type: 'identity', seq: 2, time, did: b, handle: 'alice.test' }])
    expect(await q(`SELECT did, handle FROM actor WHERE did = ANY($1) ORDER BY did`, [[a, b]])).toEqual([
      { did: a, handle: null },
      { did: b, handle: 'alice.test' },
    ])
    await indexBatch(t.database, [{ type: 'account', seq: 3, time, did: a, active: false, status: 'suspended' }])
    expect(await one(`SELECT "upstreamStatus" FROM actor WHERE did = $1`, [a])).toEqual({ upstreamStatus: 'suspended' })
    await indexBatch(t.database, [{ type: 'account', seq: 4, time, did: a, active: false, status: 'some-new-status' }])
    expect(await one(`SELECT "upstreamStatus" FROM actor WHERE did = $1`, [a])).toEqual({ upstreamStatus: 'some-new-status' })
    await indexBatch(t.database, [{ type: 'account', seq: 5, time, did: a, active: true }])
    expect(await one(`SELECT "upstreamStatus" FROM actor WHERE did = $1`, [a])).toEqual({ upstreamStatus: null })
    expect(await one(`SELECT "likeCount"::int FROM post_agg WHERE uri = $1`, [uriOf(b, POST, 'zz')])).toEqual({ likeCount: 1 })

    await indexBatch(t.database, [{ type: 'account', seq: 6, time, did: a, active: false, status: 'deleted' }])
    expect(await one(`SELECT "upstreamStatus" FROM actor WHERE did = $1`, [a])).toEqual({ upstreamStatus: 'deleted' })
    expect(await q(`SELECT uri FROM record WHERE did = $1`, [a])).toEqual([])
    expect(await q(`SELECT uri FROM post WHERE creator = $1`, [a])).toEqual([])
    expect(await one(`SELECT "likeCount"::int FROM post_agg WHERE uri = $1`, [uriOf(b, POST, 'zz')])).toEqual({ likeCount: 0 })
    expect(await one(`SELECT "postsCount"::int FROM profile_agg WHERE did = $1`, [a])).toEqual({ postsCount: 0 })
    // a late create of the deleted account is not indexed
    const late = await indexBatch(t.database, [writeEvent(a, POST, 'p2', next(), { text: 'late', createdAt })])
    expect(late.outcomes[0]?.status).toBe('stale')
    expect(await q(`SELECT uri FROM record WHERE did = $1`, [a])).toEqual([])
  })
})

describe('lists, gates, labelers, verifications', () => {
  it('a gate flags its post in any order: true while it exists, false once deleted', async () => {
    const a = did(41)
    const post = uriOf(a, POST, 'g1')
    const gate = writeEvent(a, 'app.bsky.feed.threadgate', 'g1', next(), { post, createdAt, allow: [] })
    const pgate = writeEvent(a, 'app.bsky.feed.postgate', 'g1', next(), { post, createdAt, embeddingRules: [{ $type: 'app.bsky.feed.postgate#disableRule' }] })
    // the gates arrive before their post
    expect((await indexBatch(t.database, [gate, pgate])).outcomes.map((o) => o.status)).toEqual(['applied', 'applied'])
    const p = writeEvent(a, POST, 'g1', tid(50), { text: 'gated', createdAt })
    expect((await indexBatch(t.database, [p])).outcomes[0]?.status).toBe('applied')
    const flags = `SELECT "hasThreadGate", "hasPostGate" FROM post WHERE uri = $1`
    expect(await one(flags, [post])).toEqual({ hasThreadGate: true, hasPostGate: true })
    expect(await one(`SELECT "postUri" FROM thread_gate WHERE uri = $1`, [uriOf(a, 'app.bsky.feed.threadgate', 'g1')])).toEqual({ postUri: post })
    // the thread gate goes; the post gate stays
    expect((await indexBatch(t.database, [deleteEvent(a, 'app.bsky.feed.threadgate', 'g1', next())])).outcomes[0]?.status).toBe('applied')
    expect(await one(flags, [post])).toEqual({ hasThreadGate: false, hasPostGate: true })
    // a post never gated keeps null, as bsky leaves it
    const other = writeEvent(a, POST, 'g2', next(), { text: 'open', createdAt })
    await indexBatch(t.database, [other])
    expect(await one(flags, [uriOf(a, POST, 'g2')])).toEqual({ hasThreadGate: null, hasPostGate: null })
  })

  it('refuses a gate for another post and a list item in another account list; a labeler off self is record-only', async () => {
    const a = did(42)
    const b = did(43)
    const badGate = writeEvent(a, 'app.bsky.feed.threadgate', 'x1', next(), { post: uriOf(a, POST, 'x2'), createdAt })
    const badItem = writeEvent(a, 'app.bsky.graph.listitem', 'i1', next(), { subject: b, list: uriOf(b, 'app.bsky.graph.list', 'l1'), createdAt })
    const item = writeEvent(a, 'app.bsky.graph.listitem', 'i2', next(), { subject: b, list: uriOf(a, 'app.bsky.graph.list', 'l1'), createdAt })
    const labeler = writeEvent(a, 'app.bsky.labeler.service', 'other', next(), { policies: { labelValues: ['spam'] }, createdAt })
    const res = await indexBatch(t.database, [badGate, badItem, item, labeler])
    expect(res.outcomes.map((o) => o.status)).toEqual(['invalid', 'invalid', 'applied', 'applied'])
    expect(res.outcomes[1]?.error?.message).toMatch(/does not match creator of list/)
    expect(await q(`SELECT uri FROM record WHERE did = $1 ORDER BY uri`, [a])).toEqual([
      { uri: uriOf(a, 'app.bsky.graph.listitem', 'i2') },
      { uri: uriOf(a, 'app.bsky.labeler.service', 'other') },
    ])
    expect(await q(`SELECT * FROM labeler WHERE creator = $1`, [a])).toEqual([])
    expect(await one(`SELECT "listUri", "subjectDid" FROM list_item WHERE creator = $1`, [a])).toEqual({ listUri: uriOf(a, 'app.bsky.graph.list', 'l1'), subjectDid: b })
  })

  it('keeps one verification per creator and subject (the lowest uri), the other a duplicate', async () => {
    const a = did(44)
    const b = did(45)
    const v2 = writeEvent(a, 'app.bsky.graph.verification', 'v2', next(), { subject: b, handle: 'b.test', displayName: 'B', createdAt })
    const v1 = writeEvent(a, 'app.bsky.graph.verification', 'v1', next(), { subject: b, handle: 'b.test', displayName: 'B', createdAt })
    await indexBatch(t.database, [v2])
    await indexBatch(t.database, [v1])
    expect(await q(`SELECT rkey FROM verification WHERE creator = $1`, [a])).toEqual([{ rkey: 'v1' }])
    expect(await q(`SELECT uri, "duplicateOf" FROM duplicate_record WHERE uri = $1`, [uriOf(a, 'app.bsky.graph.verification', 'v2')])).toEqual([
      { uri: uriOf(a, 'app.bsky.graph.verification', 'v2'), duplicateOf: uriOf(a, 'app.bsky.graph.verification', 'v1') },
    ])
  })
})

describe('thread-gate and post-gate violations', () => {
  it('judges a reply by the gate it came after, re-judged when a follow or list item of the pair changes', async () => {
    const owner = did(51)
    const replier = did(52)
    const root = uriOf(owner, POST, 'r1')
    const flag = `SELECT "violatesThreadGate" FROM post WHERE uri = $1`
    const replies = `SELECT "replyCount"::int FROM post_agg WHERE uri = $1`
    const reply = (rkey: string) =>
      writeEvent(replier, POST, rkey, next(), { text: 'hi', createdAt, reply: { root: strongRef(root), parent: strongRef(root) } })
    const early = reply('early')
    await indexBatch(t.database, [writeEvent(owner, POST, 'r1', next(), { text: 'root', createdAt }), early])
    const gate = writeEvent(owner, 'app.bsky.feed.threadgate', 'r1', next(), {
      post: root,
      createdAt,
      allow: [{ $type: 'app.bsky.feed.threadgate#followingRule' }, { $type: 'app.bsky.feed.threadgate#listRule', list: uriOf(owner, 'app.bsky.graph.list', 'l1') }],
    })
    const late = reply('late')
    // the late reply is indexed before the gate it came after: judged when the gate arrives
    await indexBatch(t.database, [late])
    expect(await one(flag, [uriOf(replier, POST, 'late')])).toEqual({ violatesThreadGate: null })
    await indexBatch(t.database, [gate])
    expect(await one(flag, [uriOf(replier, POST, 'late')])).toEqual({ violatesThreadGate: true })
    expect(await one(flag, [uriOf(replier, POST, 'early')])).toEqual({ violatesThreadGate: null })
    expect(await one(replies, [root])).toEqual({ replyCount: 1 })
    // the owner follows the replier: allowed
    const f = writeEvent(owner, 'app.bsky.graph.follow', 'f1', next(), { subject: replier, createdAt })
    await indexBatch(t.database, [f])
    expect(await one(flag, [uriOf(replier, POST, 'late')])).toEqual({ violatesThreadGate: null })
    expect(await one(replies, [root])).toEqual({ replyCount: 2 })
    // unfollows, but the replier is on the owner's list: still allowed; off it: violates again
    const item = writeEvent(owner, 'app.bsky.graph.listitem', 'i1', next(), { subject: replier, list: uriOf(owner, 'app.bsky.graph.list', 'l1'), createdAt })
    await indexBatch(t.database, [deleteEvent(owner, 'app.bsky.graph.follow', 'f1', next()), item])
    expect(await one(flag, [uriOf(replier, POST, 'late')])).toEqual({ violatesThreadGate: null })
    await indexBatch(t.database, [deleteEvent(owner, 'app.bsky.graph.listitem', 'i1', next())])
    expect(await one(flag, [uriOf(replier, POST, 'late')])).toEqual({ violatesThreadGate: true })
    expect(await one(replies, [root])).toEqual({ replyCount: 1 })
    // the owner's own replies are never judged
    await indexBatch(t.database, [writeEvent(owner, POST, 'own', next(), { text: 'me', createdAt, reply: { root: strongRef(root), parent: strongRef(root) } })])
    expect(await one(flag, [uriOf(owner, POST, 'own')])).toEqual({ violatesThreadGate: null })
  })

  it('lets a mentioned replier in, and flags a quote of a post whose postgate disables embedding', async () => {
    const owner = did(53)
    const other = did(54)
    const root = uriOf(owner, POST, 'm1')
    await indexBatch(t.database, [
      writeEvent(owner, POST, 'm1', next(), {
        text: 'hey you',
        createdAt,
        facets: [{ index: { byteStart: 4, byteEnd: 7 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: other }] }],
      }),
      writeEvent(owner, 'app.bsky.feed.threadgate', 'm1', next(), { post: root, createdAt, allow: [{ $type: 'app.bsky.feed.threadgate#mentionRule' }] }),
      writeEvent(owner, 'app.bsky.feed.postgate', 'm1', next(), { post: root, createdAt, embeddingRules: [{ $type: 'app.bsky.feed.postgate#disableRule' }] }),
    ])
    const third = did(55)
    await indexBatch(t.database, [
      writeEvent(other, POST, 'ok', next(), { text: 'me?', createdAt, reply: { root: strongRef(root), parent: strongRef(root) } }),
      writeEvent(third, POST, 'no', next(), { text: 'me!', createdAt, reply: { root: strongRef(root), parent: strongRef(root) } }),
      writeEvent(third, POST, 'q', next(), { text: 'look', createdAt, embed: { $type: 'app.bsky.embed.record', record: strongRef(root) } }),
      writeEvent(owner, POST, 'q', next(), { text: 'mine', createdAt, embed: { $type: 'app.bsky.embed.record', record: strongRef(root) } }),
    ])
    const flags = `SELECT "violatesThreadGate", "violatesEmbeddingRules" FROM post WHERE uri = $1`
    expect(await one(flags, [uriOf(other, POST, 'ok')])).toEqual({ violatesThreadGate: null, violatesEmbeddingRules: null })
    expect(await one(flags, [uriOf(third, POST, 'no')])).toEqual({ violatesThreadGate: true, violatesEmbeddingRules: null })
    expect(await one(flags, [uriOf(third, POST, 'q')])).toEqual({ violatesThreadGate: null, violatesEmbeddingRules: true })
    expect(await one(flags, [uriOf(owner, POST, 'q')])).toEqual({ violatesThreadGate: null, violatesEmbeddingRules: null })
    expect(await one(`SELECT "replyCount"::int FROM post_agg WHERE uri = $1`, [root])).toEqual({ replyCount: 1 })
  })
})
