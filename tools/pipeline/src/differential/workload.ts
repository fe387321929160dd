import { Activity, type SeedClient } from '@firehose/testkit'
import { Writer, type LexObject, type Ref } from './writer.js'

const now = () => new Date().toISOString()
const rkeyOf = (uri: string) => uri.split('/')[4] ?? ''

/**
 * The workload, through the PDS: random social activity from the testkit generator (posts,
 * replies, likes, unlikes, reposts, unreposts, follows, unfollows, profile edits, post deletes,
 * handle changes), then every other record type and embed kind, deletes of some of them, a
 * handle change, a deactivation and a reactivation.
 */
export async function workload(seed: SeedClient, settle: () => Promise<void>): Promise<{ dids: string[]; counts: Record<string, number> }> {
  // bsky indexes repos concurrently: a reply it indexes before (or together with) its parent
  // from another repo notifies nobody up the thread (its parent's "descendents" pass dedupes
  // against the parent's own author), so a random reply waits until bsky has its parent
  const settled = new Set<string>()
  const activity: Activity = new Activity(seed, 5, {
    beforeReply: async (parent) => {
      if (settled.has(parent)) return
      await settle()
      for (const actor of activity.actors) for (const post of actor.posts) settled.add(post.uriStr)
    },
  })
  await activity.createAccounts(5)
  const [a, b, c, d, e] = activity.dids as [string, string, string, string, string]
  const w = new Writer(seed)

  // profiles with blobs, one with createdAt
  await w.put(a, 'app.bsky.actor.profile', 'self', {
    displayName: 'Alice',
    description: 'first',
    avatar: await w.blob(a, 'image'),
    banner: await w.blob(a, 'image'),
    createdAt: now(),
  })
  await w.put(b, 'app.bsky.actor.profile', 'self', { displayName: 'Bob', avatar: await w.blob(b, 'image') })

  await activity.run(60)

  // quote posts: record, recordWithMedia (images), a quote of a reply
  const p1 = await w.post(b, 'to be quoted', { langs: ['en'], tags: ['quoted'] })
  const p2 = await w.post(c, 'quoted with media')
  await w.post(a, 'a quote', { embed: { $type: 'app.bsky.embed.record', record: p1 } })
  await w.post(d, 'quote with images', {
    embed: {
      $type: 'app.bsky.embed.recordWithMedia',
      record: { $type: 'app.bsky.embed.record', record: p2 },
      media: { $type: 'app.bsky.embed.images', images: [{ image: await w.blob(d, 'image'), alt: 'one' }] },
    },
  })
  const reply = await w.post(e, 'a reply', { reply: { root: p1, parent: p1 } })
  await w.post(c, 'quote of a reply', { embed: { $type: 'app.bsky.embed.record', record: reply } })
  // every media embed: images (two, aspect ratio), external with thumb, video, recordWithMedia + video
  await w.post(a, 'two images', {
    embed: {
      $type: 'app.bsky.embed.images',
      images: [
        { image: await w.blob(a, 'image'), alt: 'first', aspectRatio: { width: 2, height: 2 } },
        { image: await w.blob(a, 'image'), alt: '' },
      ],
    },
  })
  await w.post(b, 'a link', {
    embed: {
      $type: 'app.bsky.embed.external',
      external: { uri: 'https://example.com/page', title: 'A page', description: 'about it', thumb: await w.blob(b, 'image') },
    },
  })
  await w.post(c, 'a link without thumb', {
    embed: { $type: 'app.bsky.embed.external', external: { uri: 'https://example.com/other', title: '', description: '' } },
  })
  await w.post(d, 'a video', {
    embed: { $type: 'app.bsky.embed.video', video: await w.blob(d, 'video'), alt: 'moving', aspectRatio: { width: 16, height: 9 } },
  })
  await w.post(e, 'quote with video', {
    embed: {
      $type: 'app.bsky.embed.recordWithMedia',
      record: { $type: 'app.bsky.embed.record', record: p1 },
      media: { $type: 'app.bsky.embed.video', video: await w.blob(e, 'video') },
    },
  })
  const deletedEmbed = await w.post(a, 'an image post, deleted later', {
    embed: { $type: 'app.bsky.embed.images', images: [{ image: await w.blob(a, 'image'), alt: 'gone' }] },
  })

  // blocks (one undone)
  await w.create(a, 'app.bsky.graph.block', { subject: e, createdAt: now() })
  const block = await w.create(b, 'app.bsky.graph.block', { subject: d, createdAt: now() })
  await w.create(c, 'app.bsky.graph.block', { subject: a, createdAt: now() })

  // lists: curate and mod, items (one removed), a list block
  const curate = await w.create(a, 'app.bsky.graph.list', {
    purpose: 'app.bsky.graph.defs#curatelist',
    name: 'Friends',
    description: 'people I like',
    avatar: await w.blob(a, 'image'),
    createdAt: now(),
  })
  const mod = await w.create(b, 'app.bsky.graph.list', { purpose: 'app.bsky.graph.defs#modlist', name: 'Spammers', createdAt: now() })
  await w.create(a, 'app.bsky.graph.listitem', { subject: b, list: curate.uri, createdAt: now() })
  const item = await w.create(a, 'app.bsky.graph.listitem', { subject: c, list: curate.uri, createdAt: now() })
  await w.create(b, 'app.bsky.graph.listitem', { subject: e, list: mod.uri, createdAt: now() })
  await w.create(c, 'app.bsky.graph.listblock', { subject: mod.uri, createdAt: now() })
  const listblock = await w.create(d, 'app.bsky.graph.listblock', { subject: mod.uri, createdAt: now() })
  // a post embedding a list (a record embed that is not a quote)
  await w.post(e, 'see this list', { embed: { $type: 'app.bsky.embed.record', record: curate } })

  // a feed generator, a starter pack (reference list + items + feed), a profile joined via it
  const feed = await w.create(a, 'app.bsky.feed.generator', {
    did: 'did:web:feed.test',
    displayName: 'My feed',
    description: 'best posts',
    avatar: await w.blob(a, 'image'),
    createdAt: now(),
  })
  await w.create(b, 'app.bsky.feed.generator', { did: 'did:web:other-feed.test', displayName: 'Other', createdAt: now() })
  const ref = await w.create(d, 'app.bsky.graph.list', { purpose: 'app.bsky.graph.defs#referencelist', name: 'n/a', createdAt: now() })
  await w.create(d, 'app.bsky.graph.listitem', { subject: a, list: ref.uri, createdAt: now() })
  await w.create(d, 'app.bsky.graph.listitem', { subject: b, list: ref.uri, createdAt: now() })
  const pack = await w.create(d, 'app.bsky.graph.starterpack', {
    name: 'Starters',
    list: ref.uri,
    feeds: [{ uri: feed.uri }],
    createdAt: now(),
  })
  // (a create: bsky notifies the pack's author when it first indexes the profile only, so any
  // profile the random activity gave c goes first)
  await w.delete(c, `at://${c}/app.bsky.actor.profile/self`).catch(() => undefined)
  await w.put(c, 'app.bsky.actor.profile', 'self', { displayName: 'Carol', joinedViaStarterPack: pack, createdAt: now() })

  // a labeler service (rkey self)
  await w.put(e, 'app.bsky.labeler.service', 'self', { policies: { labelValues: ['spam', 'rude'] }, createdAt: now() })

  // a threadgate and a postgate (rkey = the post's rkey); a gate on a second post, deleted
  const gated = await w.post(a, 'only people I follow may reply')
  await w.create(
    a,
    'app.bsky.feed.threadgate',
    { post: gated.uri, allow: [{ $type: 'app.bsky.feed.threadgate#followingRule' }], createdAt: now() },
    rkeyOf(gated.uri),
  )
  const noQuotes = await w.post(b, 'do not quote me')
  await w.create(
    b,
    'app.bsky.feed.postgate',
    { post: noQuotes.uri, embeddingRules: [{ $type: 'app.bsky.feed.postgate#disableRule' }], detachedEmbeddingUris: [], createdAt: now() },
    rkeyOf(noQuotes.uri),
  )
  const gated2 = await w.post(c, 'gate removed later')
  const gate2 = await w.create(c, 'app.bsky.feed.threadgate', { post: gated2.uri, allow: [], createdAt: now() }, rkeyOf(gated2.uri))

  // reference list opt-outs (one undone, one naming a post: kept in `record` only)
  await w.create(a, 'app.bsky.graph.referencelistoptout', { subject: ref.uri, createdAt: now() })
  const optOut = await w.create(e, 'app.bsky.graph.referencelistoptout', { subject: ref.uri, createdAt: now() })
  await w.create(b, 'app.bsky.graph.referencelistoptout', { subject: curate.uri, createdAt: now() })
  await w.create(c, 'app.bsky.graph.referencelistoptout', { subject: p1.uri, createdAt: now() })
  await w.delete(e, optOut.uri)
  // notifications of every reason: a mention, likes and reposts through a repost, a reply chain
  const mentionText = 'hello @someone'
  await w.post(a, mentionText, {
    facets: [
      {
        index: { byteStart: 6, byteEnd: Buffer.byteLength(mentionText) },
        features: [{ $type: 'app.bsky.richtext.facet#mention', did: c }],
      },
    ],
  })
  const viaRepost = await w.create(b, 'app.bsky.feed.repost', { subject: p2, createdAt: now() })
  await w.create(d, 'app.bsky.feed.like', { subject: p2, via: viaRepost, createdAt: now() })
  await w.create(e, 'app.bsky.feed.repost', { subject: p2, via: viaRepost, createdAt: now() })
  // (bsky indexes repos concurrently: a reply it indexes before its parent notifies nobody up
  // the thread, its "descendents" pass deduping against the parent's own recipients; settle)
  const r1 = await w.post(a, 'a reply to a reply', { reply: { root: p1, parent: reply } })
  await settle()
  await w.post(c, 'deeper', { reply: { root: p1, parent: r1 } })

  // verifications (one undone)
  const handleOf = (did: string) => activity.actors.find((x) => x.did === did)?.handle ?? ''
  await w.create(a, 'app.bsky.graph.verification', { subject: b, handle: handleOf(b), displayName: 'Bob', createdAt: now() })
  const verif = await w.create(c, 'app.bsky.graph.verification', { subject: d, handle: handleOf(d), displayName: 'Dan', createdAt: now() })
  await w.create(c, 'app.bsky.graph.verification', { subject: e, handle: handleOf(e), displayName: 'Eve', createdAt: now() })

  // deletes
  for (const uri of [block.uri, item.uri, listblock.uri, verif.uri, gate2.uri, deletedEmbed.uri])
    await w.delete(uri.split('/')[2] ?? '', uri)

  // identity and account events, then a little more activity
  await activity.changeHandle(b)
  await activity.deactivate(d)
  await activity.activate(d)
  await activity.run(15)

  await gatedThreads(activity, w, settle)
  return { dids: activity.dids, counts: activity.counts }
}

/**
 * Threads and quotes judged by gates, last in the workload, by three new accounts (so the
 * random activity never follows, unfollows or replies to them): `f` writes every gated post,
 * `g` and `h` reply and quote. Every gate (after its post), follow and list item is made first
 * and indexed by bsky (`settle`) before any reply or quote: bsky's RepoSubscription runs each
 * repo's events in order but different repos concurrently, and judges a reply or quote once,
 * when it indexes it. Nothing they depend on changes afterwards.
 */
async function gatedThreads(activity: Activity, w: Writer, settle: () => Promise<void>): Promise<void> {
  await activity.createAccounts(3)
  const [f, g, h] = activity.dids.slice(-3) as [string, string, string]
  const gHandle = activity.actors.find((x) => x.did === g)?.handle ?? ''
  const threadgate = async (post: Ref, allow: LexObject[]): Promise<void> => {
    await w.create(f, 'app.bsky.feed.threadgate', { post: post.uri, allow, createdAt: now() }, rkeyOf(post.uri))
  }
  const rule = (name: string, extra: LexObject = {}): LexObject => ({ $type: `app.bsky.feed.threadgate#${name}`, ...extra })

  // nobody may reply (allow: [])
  const nobody = await w.post(f, 'nobody may reply')
  await threadgate(nobody, [])
  // mentioned accounts may reply: g is mentioned (a mention facet with its DID), h is not
  const prefix = 'only '
  const mention = `@${gHandle}`
  const mentioned = await w.post(f, `${prefix}${mention} may reply`, {
    facets: [
      {
        index: { byteStart: Buffer.byteLength(prefix), byteEnd: Buffer.byteLength(prefix + mention) },
        features: [{ $type: 'app.bsky.richtext.facet#mention', did: g }],
      },
    ],
  })
  await threadgate(mentioned, [rule('mentionRule')])
  // accounts f follows may reply: f follows g, not h
  const following = await w.post(f, 'people I follow may reply')
  await threadgate(following, [rule('followingRule')])
  await w.create(f, 'app.bsky.graph.follow', { subject: g, createdAt: now() })
  // f's followers may reply: h follows f, g does not
  const followers = await w.post(f, 'my followers may reply')
  await threadgate(followers, [rule('followerRule')])
  await w.create(h, 'app.bsky.graph.follow', { subject: f, createdAt: now() })
  // the members of f's list may reply: g is on it, h is not
  const list = await w.create(f, 'app.bsky.graph.list', { purpose: 'app.bsky.graph.defs#curatelist', name: 'Repliers', createdAt: now() })
  await w.create(f, 'app.bsky.graph.listitem', { subject: g, list: list.uri, createdAt: now() })
  const listed = await w.post(f, 'my list may reply')
  await threadgate(listed, [rule('listRule', { list: list.uri })])
  // no quotes (postgate disableRule)
  const unquotable = await w.post(f, 'do not quote me either')
  await w.create(
    f,
    'app.bsky.feed.postgate',
    { post: unquotable.uri, embeddingRules: [{ $type: 'app.bsky.feed.postgate#disableRule' }], createdAt: now() },
    rkeyOf(unquotable.uri),
  )
  await settle()

  const reply = (did: string, root: Ref, parent: Ref = root) => w.post(did, 'a gated reply', { reply: { root, parent } })
  await reply(g, nobody) // violates
  await reply(f, nobody) // the author: allowed
  const gMentioned = await reply(g, mentioned) // allowed
  await reply(h, mentioned) // violates
  await reply(h, mentioned, gMentioned) // violates (the root's gate), a reply to an allowed reply
  await reply(f, mentioned, gMentioned) // the author, under an allowed reply: allowed
  await reply(g, following) // allowed
  await reply(h, following) // violates
  await reply(h, followers) // allowed
  await reply(g, followers) // violates
  await reply(g, listed) // allowed
  await reply(h, listed) // violates
  const quote = (did: string, text: string) => w.post(did, text, { embed: { $type: 'app.bsky.embed.record', record: unquotable } })
  await quote(g, 'a quote of an unquotable post') // violates
  await quote(f, 'quoting myself') // the author: allowed
  await w.post(h, 'a quote with an image of an unquotable post', {
    embed: {
      $type: 'app.bsky.embed.recordWithMedia',
      record: { $type: 'app.bsky.embed.record', record: unquotable },
      media: { $type: 'app.bsky.embed.images', images: [{ image: await w.blob(h, 'image'), alt: 'x' }] },
    },
  }) // violates
}
