import { describe, expect, it } from 'vitest'
import { createdAt, deleteEvent, did, strongRef, uriOf, writeEvent, tid } from '../test/events.js'
import { POST, recordsTestSetup } from '../test/records-setup.js'
import { indexBatch } from './index-batch.js'

const t = recordsTestSetup()
const { next, q, one } = t

describe('lists, gates, labelers, verifications', () => {
  it('a gate flags its post in any order: true while it exists, false once deleted', async () => {
    const a = did(41)
    const post = uriOf(a, POST, 'g1')
    const gate = writeEvent(a, 'app.bsky.feed.threadgate', 'g1', next(), { post, createdAt, allow: [] })
    const pgate = writeEvent(a, 'app.bsky.feed.postgate', 'g1', next(), {
      post,
      createdAt,
      embeddingRules: [{ $type: 'app.bsky.feed.postgate#disableRule' }],
    })
    // the gates arrive before their post
    expect((await indexBatch(t.database, [gate, pgate])).outcomes.map((o) => o.status)).toEqual(['applied', 'applied'])
    const p = writeEvent(a, POST, 'g1', tid(50), { text: 'gated', createdAt })
    expect((await indexBatch(t.database, [p])).outcomes[0]?.status).toBe('applied')
    const flags = `SELECT "hasThreadGate", "hasPostGate" FROM post WHERE uri = $1`
    expect(await one(flags, [post])).toEqual({ hasThreadGate: true, hasPostGate: true })
    expect(await one(`SELECT "postUri" FROM thread_gate WHERE uri = $1`, [uriOf(a, 'app.bsky.feed.threadgate', 'g1')])).toEqual({
      postUri: post,
    })
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
    const badItem = writeEvent(a, 'app.bsky.graph.listitem', 'i1', next(), {
      subject: b,
      list: uriOf(b, 'app.bsky.graph.list', 'l1'),
      createdAt,
    })
    const item = writeEvent(a, 'app.bsky.graph.listitem', 'i2', next(), {
      subject: b,
      list: uriOf(a, 'app.bsky.graph.list', 'l1'),
      createdAt,
    })
    const labeler = writeEvent(a, 'app.bsky.labeler.service', 'other', next(), { policies: { labelValues: ['spam'] }, createdAt })
    const res = await indexBatch(t.database, [badGate, badItem, item, labeler])
    expect(res.outcomes.map((o) => o.status)).toEqual(['invalid', 'invalid', 'applied', 'applied'])
    expect(res.outcomes[1]?.error?.message).toMatch(/does not match creator of list/)
    expect(await q(`SELECT uri FROM record WHERE did = $1 ORDER BY uri`, [a])).toEqual([
      { uri: uriOf(a, 'app.bsky.graph.listitem', 'i2') },
      { uri: uriOf(a, 'app.bsky.labeler.service', 'other') },
    ])
    expect(await q(`SELECT * FROM labeler WHERE creator = $1`, [a])).toEqual([])
    expect(await one(`SELECT "listUri", "subjectDid" FROM list_item WHERE creator = $1`, [a])).toEqual({
      listUri: uriOf(a, 'app.bsky.graph.list', 'l1'),
      subjectDid: b,
    })
  })

  it('keeps one verification per creator and subject (the lowest uri), the other a duplicate', async () => {
    const a = did(44)
    const b = did(45)
    const v2 = writeEvent(a, 'app.bsky.graph.verification', 'v2', next(), { subject: b, handle: 'b.test', displayName: 'B', createdAt })
    const v1 = writeEvent(a, 'app.bsky.graph.verification', 'v1', next(), { subject: b, handle: 'b.test', displayName: 'B', createdAt })
    await indexBatch(t.database, [v2])
    await indexBatch(t.database, [v1])
    expect(await q(`SELECT rkey FROM verification WHERE creator = $1`, [a])).toEqual([{ rkey: 'v1' }])
    expect(
      await q(`SELECT uri, "duplicateOf" FROM duplicate_record WHERE uri = $1`, [uriOf(a, 'app.bsky.graph.verification', 'v2')]),
    ).toEqual([{ uri: uriOf(a, 'app.bsky.graph.verification', 'v2'), duplicateOf: uriOf(a, 'app.bsky.graph.verification', 'v1') }])
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
      allow: [
        { $type: 'app.bsky.feed.threadgate#followingRule' },
        { $type: 'app.bsky.feed.threadgate#listRule', list: uriOf(owner, 'app.bsky.graph.list', 'l1') },
      ],
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
    const item = writeEvent(owner, 'app.bsky.graph.listitem', 'i1', next(), {
      subject: replier,
      list: uriOf(owner, 'app.bsky.graph.list', 'l1'),
      createdAt,
    })
    await indexBatch(t.database, [deleteEvent(owner, 'app.bsky.graph.follow', 'f1', next()), item])
    expect(await one(flag, [uriOf(replier, POST, 'late')])).toEqual({ violatesThreadGate: null })
    await indexBatch(t.database, [deleteEvent(owner, 'app.bsky.graph.listitem', 'i1', next())])
    expect(await one(flag, [uriOf(replier, POST, 'late')])).toEqual({ violatesThreadGate: true })
    expect(await one(replies, [root])).toEqual({ replyCount: 1 })
    // the owner's own replies are never judged
    await indexBatch(t.database, [
      writeEvent(owner, POST, 'own', next(), { text: 'me', createdAt, reply: { root: strongRef(root), parent: strongRef(root) } }),
    ])
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
      writeEvent(owner, 'app.bsky.feed.threadgate', 'm1', next(), {
        post: root,
        createdAt,
        allow: [{ $type: 'app.bsky.feed.threadgate#mentionRule' }],
      }),
      writeEvent(owner, 'app.bsky.feed.postgate', 'm1', next(), {
        post: root,
        createdAt,
        embeddingRules: [{ $type: 'app.bsky.feed.postgate#disableRule' }],
      }),
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
