import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { StreamEvent } from '@firehose/streams'
import { createTestDb, type TestDb } from '../test/db.js'
import { createdAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { indexBatch } from './index-batch.js'

let t: TestDb
let rev = 100
const next = () => tid(rev++)
const POST = 'app.bsky.feed.post'
const [A, B, C, D, E] = [did(1), did(2), did(3), did(4), did(5)]

/** Notifications as `recipient author reason record subject` lines, sorted. */
async function notifs(): Promise<string[]> {
  const res = await t.database.pool.query(`SELECT did, author, reason, "recordUri", "reasonSubject" FROM notification`)
  return res.rows
    .map((r: Record<string, string | null>) => [r.did, r.author, r.reason, r.recordUri, r.reasonSubject ?? '-'].join(' '))
    .sort()
}
const n = (to: string, by: string, reason: string, record: string, subject: string | null = null) =>
  [to, by, reason, record, subject ?? '-'].join(' ')
const index = async (events: StreamEvent[], notifications?: boolean) => {
  const res = await indexBatch(t.database, events, notifications === undefined ? {} : { notifications })
  expect(res.failed).toEqual([])
  return res.outcomes.map((o) => o.status)
}
const post = (d: string, rkey: string, extra: Record<string, unknown> = {}) =>
  writeEvent(d, POST, rkey, next(), { text: rkey, createdAt, ...extra })
const reply = (d: string, rkey: string, root: string, parent: string, extra: Record<string, unknown> = {}) =>
  post(d, rkey, { reply: { root: strongRef(root), parent: strongRef(parent) }, ...extra })
const mention = (to: string) => ({
  facets: [{ index: { byteStart: 0, byteEnd: 1 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: to }] }],
})

beforeAll(async () => {
  t = await createTestDb()
})
afterAll(async () => {
  await t?.drop()
})
beforeEach(async () => {
  await t.database.pool.query(
    `TRUNCATE record, record_tombstone, post, "like", repost, follow, profile, verification, quote, post_embed_record, duplicate_record, notification, actor, indexer_actor_state`,
  )
})

describe('notification rows, reason by reason (bsky 0.0.280 plugins)', () => {
  it('like, repost and their via-repost variants; never to oneself', async () => {
    const p = uriOf(A, POST, 'p')
    const rp = uriOf(B, 'app.bsky.feed.repost', 'r1')
    await index([
      post(A, 'p'),
      writeEvent(B, 'app.bsky.feed.repost', 'r1', next(), { subject: strongRef(p), createdAt }),
      writeEvent(C, 'app.bsky.feed.like', 'l1', next(), { subject: strongRef(p), via: strongRef(rp), createdAt }),
      writeEvent(C, 'app.bsky.feed.repost', 'r2', next(), { subject: strongRef(p), via: strongRef(rp), createdAt }),
      writeEvent(A, 'app.bsky.feed.like', 'self', next(), { subject: strongRef(p), createdAt }),
      writeEvent(B, 'app.bsky.feed.like', 'l2', next(), { subject: strongRef(p), via: strongRef(rp), createdAt }),
      // A reposts its own post via B's repost: nobody is notified (bsky returns before `via`)
      writeEvent(A, 'app.bsky.feed.repost', 'self', next(), { subject: strongRef(p), via: strongRef(rp), createdAt }),
    ])
    expect(await notifs()).toEqual(
      [
        n(A, B, 'like', uriOf(B, 'app.bsky.feed.like', 'l2'), p),
        n(A, B, 'repost', rp, p),
        n(A, C, 'like', uriOf(C, 'app.bsky.feed.like', 'l1'), p),
        n(A, C, 'repost', uriOf(C, 'app.bsky.feed.repost', 'r2'), p),
        n(B, C, 'like-via-repost', uriOf(C, 'app.bsky.feed.like', 'l1'), rp),
        n(B, C, 'repost-via-repost', uriOf(C, 'app.bsky.feed.repost', 'r2'), rp),
      ].sort(),
    )
    // a delete takes the record's notifications; a late create after it brings none back
    const del = deleteEvent(C, 'app.bsky.feed.like', 'l1', next())
    await index([del])
    expect((await notifs()).filter((x) => x.includes('/l1'))).toEqual([])
  })

  it('a duplicate like notifies once; deleting the kept one moves the notification to the other', async () => {
    const p = uriOf(A, POST, 'p')
    const [l1, l2] = ['l1', 'l2'].map((k) => writeEvent(B, 'app.bsky.feed.like', k, next(), { subject: strongRef(p), createdAt }))
    await index([post(A, 'p'), l2!, l1!])
    expect(await notifs()).toEqual([n(A, B, 'like', uriOf(B, 'app.bsky.feed.like', 'l1'), p)])
    await index([deleteEvent(B, 'app.bsky.feed.like', 'l1', next())])
    expect(await notifs()).toEqual([n(A, B, 'like', uriOf(B, 'app.bsky.feed.like', 'l2'), p)])
  })

  it("a like created in the batch that deletes its group's kept row: the lowest remaining uri notifies, not the new one", async () => {
    const p = uriOf(A, POST, 'p')
    const like = (k: string) => writeEvent(B, 'app.bsky.feed.like', k, next(), { subject: strongRef(p), createdAt })
    await index([post(A, 'p'), like('l1'), like('l2')])
    expect(await notifs()).toEqual([n(A, B, 'like', uriOf(B, 'app.bsky.feed.like', 'l1'), p)])
    // l1 goes first, so l3's insert finds the group empty; l2 (a duplicate) is kept
    await index([deleteEvent(B, 'app.bsky.feed.like', 'l1', next()), like('l3')])
    expect(await notifs()).toEqual([n(A, B, 'like', uriOf(B, 'app.bsky.feed.like', 'l2'), p)])
    // two new likes of one new group in one batch: the lower one only
    const q = uriOf(C, POST, 'q')
    await index([
      post(C, 'q'),
      writeEvent(D, 'app.bsky.feed.repost', 'r2', next(), { subject: strongRef(q), createdAt }),
      writeEvent(D, 'app.bsky.feed.repost', 'r1', next(), { subject: strongRef(q), createdAt }),
    ])
    expect((await notifs()).filter((x) => x.includes(q))).toEqual([n(C, D, 'repost', uriOf(D, 'app.bsky.feed.repost', 'r1'), q)])
  })

  it('follow (a self-follow too, as bsky), starter pack joined, verified and unverified', async () => {
    const sp = uriOf(B, 'app.bsky.graph.starterpack', 'sp')
    await index([
      writeEvent(A, 'app.bsky.graph.follow', 'f1', next(), { subject: B, createdAt }),
      writeEvent(A, 'app.bsky.graph.follow', 'f2', next(), { subject: A, createdAt }),
      writeEvent(C, 'app.bsky.actor.profile', 'self', next(), { displayName: 'c', joinedViaStarterPack: strongRef(sp) }),
      writeEvent(D, 'app.bsky.graph.verification', 'v1', next(), { subject: E, handle: 'e.test', displayName: 'E', createdAt }),
    ])
    const v1 = uriOf(D, 'app.bsky.graph.verification', 'v1')
    expect(await notifs()).toEqual(
      [
        n(B, A, 'follow', uriOf(A, 'app.bsky.graph.follow', 'f1')),
        n(A, A, 'follow', uriOf(A, 'app.bsky.graph.follow', 'f2')),
        n(B, C, 'starterpack-joined', uriOf(C, 'app.bsky.actor.profile', 'self'), sp),
        n(E, D, 'verified', v1),
      ].sort(),
    )
    await index([deleteEvent(D, 'app.bsky.graph.verification', 'v1', next())])
    // (bsky also leaves the `verified` row; here it goes with the record, as every other reason's)
    expect((await notifs()).filter((x) => x.includes(v1))).toEqual([n(E, D, 'unverified', v1)])
    // created again (a newer version): verified again, the unverified row gone
    await index([writeEvent(D, 'app.bsky.graph.verification', 'v1', next(), { subject: C, handle: 'c.test', displayName: 'C', createdAt })])
    expect((await notifs()).filter((x) => x.includes(v1))).toEqual([n(C, D, 'verified', v1)])
  })

  it('post: mention, quote, replies up to 4 levels up, each recipient once, the first reason winning', async () => {
    const root = uriOf(A, POST, 'r0')
    const chain = [root]
    const events: StreamEvent[] = [post(A, 'r0')]
    // r1..r5 by B, C, D, E, B: a chain 5 deep
    const authors = [B, C, D, E, B]
    for (const [i, d] of authors.entries()) {
      events.push(reply(d, `r${i + 1}`, root, chain[i]!))
      chain.push(uriOf(d, POST, `r${i + 1}`))
    }
    await index(events)
    // r5 (by B) notifies E (r4), D (r3), C (r2) and not A (5 levels up) nor B (own)
    const r5 = chain[5]!
    expect((await notifs()).filter((x) => x.includes(`${r5} `))).toEqual(
      [n(E, B, 'reply', r5, chain[4]!), n(D, B, 'reply', r5, chain[3]!), n(C, B, 'reply', r5, chain[2]!)].sort(),
    )
    // a post that mentions C, quotes C's post and replies to C: one notification, the mention
    const q = reply(D, 'q', root, chain[2]!, { ...mention(C), embed: { $type: 'app.bsky.embed.record', record: strongRef(chain[2]!) } })
    await index([q])
    const qu = uriOf(D, POST, 'q')
    expect((await notifs()).filter((x) => x.includes(`${qu} `))).toEqual(
      [n(C, D, 'mention', qu), n(B, D, 'reply', qu, chain[1]!), n(A, D, 'reply', qu, root)].sort(),
    )
    const q2 = post(E, 'q2', { embed: { $type: 'app.bsky.embed.record', record: strongRef(root) } })
    await index([q2])
    expect((await notifs()).filter((x) => x.includes(uriOf(E, POST, 'q2')))).toEqual([n(A, E, 'quote', uriOf(E, POST, 'q2'), root)])
  })

  it('a parent that arrives after its replies notifies up the chain (bsky: "descendents"), the same rows as in order', async () => {
    const root = uriOf(A, POST, 'r0')
    const mid = uriOf(B, POST, 'm')
    const inOrder = [post(A, 'r0'), reply(B, 'm', root, root), reply(C, 'leaf', root, mid)]
    await index(inOrder)
    const expected = await notifs()
    expect(expected.length).toBe(3)
    await t.database.pool.query(`TRUNCATE record, record_tombstone, post, notification`)
    for (const e of [...inOrder].reverse()) await index([e])
    expect(await notifs()).toEqual(expected)
  })

  it('no reply notifications for a reply that violates the threadgate, and none above a hidden reply', async () => {
    // thread g: nobody may reply; thread h: open, B's reply hidden by the root's author
    const [g, h] = [uriOf(A, POST, 'g'), uriOf(A, POST, 'h')]
    const hidden = uriOf(B, POST, 'hb')
    await index([
      post(A, 'g'),
      post(A, 'h'),
      writeEvent(A, 'app.bsky.feed.threadgate', 'g', next(), { post: g, createdAt, allow: [] }),
      writeEvent(A, 'app.bsky.feed.threadgate', 'h', next(), { post: h, createdAt, hiddenReplies: [hidden] }),
    ])
    await index([reply(B, 'gb', g, g, mention(C)), reply(B, 'hb', h, h)])
    await index([reply(C, 'hc', h, hidden)])
    const all = await notifs()
    // the violating reply still notifies whom it mentions, not the thread
    expect(all.filter((x) => x.includes(`${uriOf(B, POST, 'gb')} `))).toEqual([n(C, B, 'mention', uriOf(B, POST, 'gb'))])
    // the hidden reply itself notifies the root's author; C's reply to it notifies B, not A above it
    expect(all.filter((x) => x.includes(`${hidden} `) && x.includes(' reply '))).toEqual([n(A, B, 'reply', hidden, h)])
    expect(all.filter((x) => x.includes(`${uriOf(C, POST, 'hc')} `))).toEqual([n(B, C, 'reply', uriOf(C, POST, 'hc'), hidden)])
  })

  it('a verification updated then deleted: the unverified row names the deleted version, in any order', async () => {
    const v = uriOf(D, 'app.bsky.graph.verification', 'v')
    const history = [
      writeEvent(D, 'app.bsky.graph.verification', 'v', next(), { subject: A, handle: 'a.test', displayName: 'A', createdAt }),
      writeEvent(D, 'app.bsky.graph.verification', 'v', next(), { subject: B, handle: 'b.test', displayName: 'B', createdAt }, 'update'),
      deleteEvent(D, 'app.bsky.graph.verification', 'v', next(), '2026-01-05T00:00:00.000Z'),
    ]
    const orders = [
      [0, 1, 2],
      [2, 0, 1],
      [2, 1, 0],
      [0, 2, 1],
      [1, 2, 0],
    ]
    for (const order of orders) {
      await t.database.pool.query(`TRUNCATE record, record_tombstone, verification, duplicate_record, notification`)
      for (const i of order) await index([history[i]!])
      expect(await notifs(), order.join()).toEqual([n(B, D, 'unverified', v)])
    }
  })

  it('any order, duplicates and replays give the same rows; a verification deleted before its create arrives too', async () => {
    const p = uriOf(A, POST, 'p')
    const history: StreamEvent[] = [
      post(A, 'p', mention(B)),
      writeEvent(B, 'app.bsky.feed.like', 'l', next(), { subject: strongRef(p), createdAt }),
      reply(C, 'c', p, p),
      writeEvent(D, 'app.bsky.graph.verification', 'v', next(), { subject: E, handle: 'e.test', displayName: 'E', createdAt }),
    ]
    history.push(deleteEvent(D, 'app.bsky.graph.verification', 'v', next()))
    await index(history)
    const expected = await notifs()
    expect(expected.some((x) => x.includes(' unverified '))).toBe(true)
    await t.database.pool.query(`TRUNCATE record, record_tombstone, post, "like", verification, duplicate_record, notification`)
    for (const e of [...history, ...history].reverse()) await index([e])
    expect(await notifs()).toEqual(expected)
    const sortAt = await t.database.pool.query(`SELECT "sortAt" FROM notification ORDER BY 1`)
    await index(history)
    expect((await t.database.pool.query(`SELECT "sortAt" FROM notification ORDER BY 1`)).rows).toEqual(sortAt.rows)
  })

  it('INDEXER_NOTIFICATIONS=false: no rows', async () => {
    const p = uriOf(A, POST, 'p')
    await index([post(A, 'p'), writeEvent(B, 'app.bsky.feed.like', 'l', next(), { subject: strongRef(p), createdAt })], false)
    expect(await notifs()).toEqual([])
  })

  it('a deleted account: no notifications to or from it', async () => {
    const p = uriOf(A, POST, 'p')
    await index([post(A, 'p'), writeEvent(B, 'app.bsky.feed.like', 'l', next(), { subject: strongRef(p), createdAt })])
    expect((await notifs()).length).toBe(1)
    await index([{ type: 'account', did: A, active: false, status: 'deleted', seq: 1, time: '2026-01-03T00:00:00.000Z' } as StreamEvent])
    expect(await notifs()).toEqual([])
    await index([writeEvent(C, 'app.bsky.feed.like', 'l', next(), { subject: strongRef(p), createdAt })])
    expect(await notifs()).toEqual([])
  })
})
