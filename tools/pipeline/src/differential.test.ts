/**
 * Differential test against the reference implementation on a REAL network (issues #5, #6).
 *
 * `@atproto/dev-env`'s TestNetwork runs a PLC directory, a PDS and bsky's AppView; bsky's data
 * plane indexes the PDS's firehose with bsky's own RepoSubscription + IndexingService into its
 * Postgres schema (one database of our local Postgres, direct URL). Our ingester (subscribed to
 * the same PDS) and our indexer (separate processes, through pgbouncer) index the same events
 * into another database. A workload made through the PDS (accounts, posts with every embed kind
 * and real blobs, likes, reposts, follows, blocks, profiles, lists, feed generators, starter
 * packs, a labeler, gates, verifications, deletes, handle changes, a deactivation and a
 * reactivation) is then compared table by table: the same query over the same columns on both
 * sides, rows sorted, restricted to the workload's accounts (bsky's schema also holds the
 * accounts dev-env creates for ozone and the lexicon authority, which our ingester, started
 * later, never saw).
 */
import { deflateSync, crc32 } from 'node:zlib'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cursorKey } from '@firehose/streams'
import { Activity, createTestDatabase, startNetworkWithAppView, type AppViewNetwork, type SeedClient, type TestDatabase } from '@firehose/testkit'
import { waitFor } from '@firehose/testkit/wait'
import { createApps, type AppProcess } from './apps.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

type Did = `did:${string}:${string}`
interface Ref {
  uri: string
  cid: string
}
type LexObject = { [key: string]: unknown }

/** Rows of `text` (with `$1` = the workload's DIDs) as sorted JSON strings, values as text. */
async function rows(client: pg.Client, text: string, dids: string[]): Promise<string[]> {
  const res = await client.query(text, [dids])
  return res.rows.map((r: Record<string, unknown>) => JSON.stringify(Object.entries(r).map(([k, v]) => [k, v === null ? null : typeof v === 'object' ? JSON.stringify(v) : String(v)]))).sort()
}

/** Rows only on one side, a few of each, for a readable failure. */
function diffRows(ours: string[], ref: string[]): { onlyOurs: string[]; onlyBsky: string[]; ours: number; bsky: number } | null {
  const a = new Set(ours)
  const b = new Set(ref)
  const onlyOurs = ours.filter((x) => !b.has(x))
  const onlyBsky = ref.filter((x) => !a.has(x))
  if (onlyOurs.length === 0 && onlyBsky.length === 0 && ours.length === ref.length) return null
  return { ours: ours.length, bsky: ref.length, onlyOurs: onlyOurs.slice(0, 4), onlyBsky: onlyBsky.slice(0, 4) }
}

const byCreator = `creator = ANY($1)`
const didOf = (col: string) => `split_part(${col}, '/', 3) = ANY($1)`

/**
 * Issue #5. Columns left out, and why:
 * - post: `hasThreadGate`, `hasPostGate`, `violatesThreadGate`, `violatesEmbeddingRules` depend
 *   on other records: compared by GATES below; `invalidReplyRoot` is never compared (see there).
 * - profile: `pinnedPost`, `pinnedPostCid` (documented: bsky 0.0.280 does not write them);
 *   `createdAt` only when the record has one (documented: without one bsky takes its wall clock).
 * - actor: only did, handle and upstreamStatus; `indexedAt` is when bsky last resolved the
 *   handle (its wall clock for account and identity events), the other columns are not the
 *   indexer's (takedowns, verifier flag, age assurance).
 * - post_agg: `quoteCount` goes with issue #6; rows whose counters are all 0 may exist on one
 *   side only (documented: we recount every touched key, bsky only the ones it updates).
 * - like/repost/follow/actor_block are compared whole: the documented difference (which of
 *   several records for the same creator and subject is kept) needs duplicates, which a PDS
 *   workload where each like/follow/… is made once does not produce.
 * `indexedAt` / `sortAt` are compared: bsky's RepoSubscription indexes records with the event's
 * `time` from the firehose frame, as ours does.
 */
const ISSUE5: Record<string, string> = {
  post: `SELECT uri, cid, creator, text, "replyRoot", "replyRootCid", "replyParent", "replyParentCid", "createdAt", "indexedAt", "sortAt", langs, tags FROM post WHERE ${byCreator}`,
  like: `SELECT uri, cid, creator, subject, "subjectCid", "createdAt", "indexedAt", "sortAt", via, "viaCid" FROM "like" WHERE ${byCreator}`,
  repost: `SELECT uri, cid, creator, subject, "subjectCid", "createdAt", "indexedAt", "sortAt", via, "viaCid" FROM repost WHERE ${byCreator}`,
  follow: `SELECT uri, cid, creator, "subjectDid", "createdAt", "indexedAt", "sortAt" FROM follow WHERE ${byCreator}`,
  actor_block: `SELECT uri, cid, creator, "subjectDid", "createdAt", "indexedAt", "sortAt" FROM actor_block WHERE ${byCreator}`,
  profile: `SELECT p.uri, p.cid, p.creator, p."displayName", p.description, p."avatarCid", p."bannerCid", p."joinedViaStarterPackUri", p."indexedAt",
      CASE WHEN r.json::jsonb ? 'createdAt' THEN p."createdAt" ELSE '(not in record)' END AS "createdAt"
    FROM profile p LEFT JOIN record r ON r.uri = p.uri WHERE p.${byCreator}`,
  actor: `SELECT did, handle, "upstreamStatus" FROM actor WHERE did = ANY($1)`,
  post_agg: `SELECT uri, "likeCount", "repostCount", "replyCount" FROM post_agg WHERE ${didOf('uri')} AND "likeCount" + "repostCount" + "replyCount" > 0`,
  profile_agg: `SELECT did, "followersCount", "followsCount", "postsCount" FROM profile_agg WHERE did = ANY($1) AND "followersCount" + "followsCount" + "postsCount" > 0`,
}

/**
 * Issue #6. Every column of these tables is compared. Left out / projected:
 * - post_agg: only `quoteCount`, rows with a quote (0-rows may exist on one side only), against
 *   the count of bsky's quote rows (BSKY_SIDE below). The
 *   documented difference (we count `quote.subject`, bsky `quote.subjectCid`) shows only when a
 *   quoted post is edited; the documented one about deleting a quoted post (bsky removes the
 *   quotes *of* it) needs a quoted post deleted: the workload does neither.
 */
const ISSUE6: Record<string, string> = {
  list: `SELECT uri, cid, creator, name, purpose, description, "descriptionFacets", "avatarCid", "createdAt", "indexedAt", "sortAt" FROM list WHERE ${byCreator}`,
  list_item: `SELECT uri, cid, creator, "subjectDid", "listUri", "createdAt", "indexedAt", "sortAt" FROM list_item WHERE ${byCreator}`,
  list_block: `SELECT uri, cid, creator, "subjectUri", "createdAt", "indexedAt", "sortAt" FROM list_block WHERE ${byCreator}`,
  feed_generator: `SELECT uri, cid, creator, "feedDid", "displayName", description, "descriptionFacets", "avatarCid", "createdAt", "indexedAt", "sortAt" FROM feed_generator WHERE ${byCreator}`,
  starter_pack: `SELECT uri, cid, creator, name, "createdAt", "indexedAt", "sortAt" FROM starter_pack WHERE ${byCreator}`,
  labeler: `SELECT uri, cid, creator, "createdAt", "indexedAt", "sortAt" FROM labeler WHERE ${byCreator}`,
  thread_gate: `SELECT uri, cid, creator, "postUri", "createdAt", "indexedAt" FROM thread_gate WHERE ${byCreator}`,
  post_gate: `SELECT uri, cid, creator, "postUri", "createdAt", "indexedAt" FROM post_gate WHERE ${byCreator}`,
  verification: `SELECT uri, cid, rkey, creator, subject, handle, "displayName", "createdAt", "indexedAt", "sortedAt" FROM verification WHERE ${byCreator}`,
  post_embed_image: `SELECT "postUri", position, "imageCid", alt FROM post_embed_image WHERE ${didOf('"postUri"')}`,
  post_embed_external: `SELECT "postUri", uri, title, description, "thumbCid" FROM post_embed_external WHERE ${didOf('"postUri"')}`,
  post_embed_record: `SELECT "postUri", "embedUri", "embedCid" FROM post_embed_record WHERE ${didOf('"postUri"')}`,
  post_embed_video: `SELECT "postUri", "videoCid", alt FROM post_embed_video WHERE ${didOf('"postUri"')}`,
  quote: `SELECT uri, cid, subject, "subjectCid", "createdAt", "indexedAt", "sortAt" FROM quote WHERE ${didOf('uri')}`,
  post_agg_quotes: `SELECT uri, "quoteCount" FROM post_agg WHERE ${didOf('uri')} AND "quoteCount" > 0`,
}

/**
 * bsky's side of a comparison where its stored value is not what it means to store. bsky
 * recounts `quoteCount` inside the transaction that indexes the quote (read committed) while
 * it indexes different repos concurrently, so two quotes of one post indexed at once may each
 * count without the other's (and it counts by `subjectCid`, a documented difference). A CI run
 * saw it store 1 for a post with 2 quotes, both in its `quote` table and equal to ours. Its
 * quote rows are compared row by row above; its count is taken from them.
 */
const BSKY_SIDE: Record<string, string> = {
  post_agg_quotes: `SELECT subject AS uri, count(*)::int AS "quoteCount" FROM quote WHERE ${didOf('subject')} GROUP BY subject`,
}

const FLAGS = ['hasThreadGate', 'hasPostGate', 'violatesThreadGate', 'violatesEmbeddingRules'] as const

/**
 * The columns of `post` that depend on other records (gates, follows, list items, the root
 * post's facets), for every post of the workload's accounts, and the `replyCount` that depends
 * on them (bsky counts only the replies that do not violate the root's threadgate).
 * - The four flags as booleans, `coalesce(…, false)`: null and false both mean "no" to readers,
 *   and each side writes false only in some cases (bsky: `hasThreadGate` / `hasPostGate` false
 *   after a gate was deleted, `violatesThreadGate` false next to a true `invalidReplyRoot`; ours:
 *   the gate flags false after a delete, the violation flags never false).
 * - `invalidReplyRoot` is left out: ours does not compute it (documented in
 *   apps/indexer/DATABASE.md: it depends on the reply's parent, transitively, so it would have
 *   to be re-judged down a whole subtree whenever a parent arrives late or changes), it stays
 *   null.
 * - `replyCount` through a LEFT JOIN from post, `coalesce(…, 0)`: a post_agg row whose counters
 *   are all 0 may exist on one side only (documented).
 * The gated threads are made so that bsky's judge-once-at-indexing gives the same answer as
 * ours re-judging from what is stored (documented difference): every gate, follow and list item
 * they depend on is indexed before their replies and quotes, and never changed afterwards.
 */
const GATES: Record<string, string> = {
  post_flags: `SELECT uri, ${FLAGS.map((f) => `coalesce("${f}", false) AS "${f}"`).join(', ')} FROM post WHERE ${byCreator}`,
  post_reply_count: `SELECT p.uri, coalesce(a."replyCount", 0) AS "replyCount" FROM post p LEFT JOIN post_agg a ON a.uri = p.uri WHERE p.${byCreator}`,
}

/** A tiny valid PNG (2×2 RGB), different bytes (so a different blob) per `n`. */
function png(n: number): Uint8Array {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(crc32(body))
    return Buffer.concat([len, body, crc])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(2, 0)
  ihdr.writeUInt32BE(2, 4)
  ihdr.set([8, 2, 0, 0, 0], 8)
  const raw = Buffer.from([0, n & 255, 10, 20, 30, 40, 50, 0, 60, 70, 80, 90, (n >> 8) & 255, 100])
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

/** The start of an MP4 file (an `ftyp` box and a small `mdat`): sniffed as video/mp4. */
function mp4(n: number): Uint8Array {
  const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom', 'ascii'), Buffer.from([0, 0, 2, 0]), Buffer.from('isommp41', 'ascii')])
  const mdat = Buffer.concat([Buffer.from([0, 0, 0, 0x10]), Buffer.from('mdat', 'ascii'), Buffer.from([n & 255, 1, 2, 3, 4, 5, 6, 7])])
  return Buffer.concat([ftyp, mdat])
}

/** Record writes through the PDS's com.atproto.repo API, as an app does. */
class Writer {
  private n = 0
  constructor(private readonly seed: SeedClient) {}
  private headers(did: string) {
    return this.seed.getHeaders(did as Did)
  }
  async create(did: string, collection: string, record: LexObject, rkey?: string): Promise<Ref> {
    const res = await this.seed.agent.com.atproto.repo.createRecord(
      { repo: did, collection, record: { $type: collection, ...record }, ...(rkey ? { rkey } : {}) },
      { headers: this.headers(did), encoding: 'application/json' },
    )
    return { uri: res.data.uri, cid: res.data.cid }
  }
  async put(did: string, collection: string, rkey: string, record: LexObject): Promise<Ref> {
    const res = await this.seed.agent.com.atproto.repo.putRecord(
      { repo: did, collection, rkey, record: { $type: collection, ...record } },
      { headers: this.headers(did), encoding: 'application/json' },
    )
    return { uri: res.data.uri, cid: res.data.cid }
  }
  async delete(did: string, uri: string): Promise<void> {
    const [, , repo, collection, rkey] = uri.split('/')
    await this.seed.agent.com.atproto.repo.deleteRecord({ repo: repo ?? did, collection: collection ?? '', rkey: rkey ?? '' }, { headers: this.headers(did), encoding: 'application/json' })
  }
  /** Upload bytes as a blob; returns the blob ref to put in a record. */
  async blob(did: string, kind: 'image' | 'video'): Promise<unknown> {
    const n = ++this.n
    const res = await this.seed.agent.com.atproto.repo.uploadBlob(kind === 'image' ? png(n) : mp4(n), { headers: this.headers(did), encoding: kind === 'image' ? 'image/png' : 'video/mp4' })
    return res.data.blob
  }
  post(did: string, text: string, extra: LexObject = {}): Promise<Ref> {
    return this.create(did, 'app.bsky.feed.post', { text, createdAt: new Date().toISOString(), ...extra })
  }
}

const now = () => new Date().toISOString()
const rkeyOf = (uri: string) => uri.split('/')[4] ?? ''

/**
 * The workload, through the PDS: random social activity from the testkit generator (posts,
 * replies, likes, unlikes, reposts, unreposts, follows, unfollows, profile edits, post deletes,
 * handle changes), then every other record type and embed kind, deletes of some of them, a
 * handle change, a deactivation and a reactivation.
 */
async function workload(seed: SeedClient, settle: () => Promise<void>): Promise<{ dids: string[]; counts: Record<string, number> }> {
  const activity = new Activity(seed, 5)
  await activity.createAccounts(5)
  const [a, b, c, d, e] = activity.dids as [string, string, string, string, string]
  const w = new Writer(seed)

  // profiles with blobs, one with createdAt
  await w.put(a, 'app.bsky.actor.profile', 'self', { displayName: 'Alice', description: 'first', avatar: await w.blob(a, 'image'), banner: await w.blob(a, 'image'), createdAt: now() })
  await w.put(b, 'app.bsky.actor.profile', 'self', { displayName: 'Bob', avatar: await w.blob(b, 'image') })

  await activity.run(60)

  // quote posts: record, recordWithMedia (images), a quote of a reply
  const p1 = await w.post(b, 'to be quoted', { langs: ['en'], tags: ['quoted'] })
  const p2 = await w.post(c, 'quoted with media')
  await w.post(a, 'a quote', { embed: { $type: 'app.bsky.embed.record', record: p1 } })
  await w.post(d, 'quote with images', {
    embed: { $type: 'app.bsky.embed.recordWithMedia', record: { $type: 'app.bsky.embed.record', record: p2 }, media: { $type: 'app.bsky.embed.images', images: [{ image: await w.blob(d, 'image'), alt: 'one' }] } },
  })
  const reply = await w.post(e, 'a reply', { reply: { root: p1, parent: p1 } })
  await w.post(c, 'quote of a reply', { embed: { $type: 'app.bsky.embed.record', record: reply } })
  // every media embed: images (two, aspect ratio), external with thumb, video, recordWithMedia + video
  await w.post(a, 'two images', {
    embed: { $type: 'app.bsky.embed.images', images: [{ image: await w.blob(a, 'image'), alt: 'first', aspectRatio: { width: 2, height: 2 } }, { image: await w.blob(a, 'image'), alt: '' }] },
  })
  await w.post(b, 'a link', { embed: { $type: 'app.bsky.embed.external', external: { uri: 'https://example.com/page', title: 'A page', description: 'about it', thumb: await w.blob(b, 'image') } } })
  await w.post(c, 'a link without thumb', { embed: { $type: 'app.bsky.embed.external', external: { uri: 'https://example.com/other', title: '', description: '' } } })
  await w.post(d, 'a video', { embed: { $type: 'app.bsky.embed.video', video: await w.blob(d, 'video'), alt: 'moving', aspectRatio: { width: 16, height: 9 } } })
  await w.post(e, 'quote with video', {
    embed: { $type: 'app.bsky.embed.recordWithMedia', record: { $type: 'app.bsky.embed.record', record: p1 }, media: { $type: 'app.bsky.embed.video', video: await w.blob(e, 'video') } },
  })
  const deletedEmbed = await w.post(a, 'an image post, deleted later', { embed: { $type: 'app.bsky.embed.images', images: [{ image: await w.blob(a, 'image'), alt: 'gone' }] } })

  // blocks (one undone)
  await w.create(a, 'app.bsky.graph.block', { subject: e, createdAt: now() })
  const block = await w.create(b, 'app.bsky.graph.block', { subject: d, createdAt: now() })
  await w.create(c, 'app.bsky.graph.block', { subject: a, createdAt: now() })

  // lists: curate and mod, items (one removed), a list block
  const curate = await w.create(a, 'app.bsky.graph.list', { purpose: 'app.bsky.graph.defs#curatelist', name: 'Friends', description: 'people I like', avatar: await w.blob(a, 'image'), createdAt: now() })
  const mod = await w.create(b, 'app.bsky.graph.list', { purpose: 'app.bsky.graph.defs#modlist', name: 'Spammers', createdAt: now() })
  await w.create(a, 'app.bsky.graph.listitem', { subject: b, list: curate.uri, createdAt: now() })
  const item = await w.create(a, 'app.bsky.graph.listitem', { subject: c, list: curate.uri, createdAt: now() })
  await w.create(b, 'app.bsky.graph.listitem', { subject: e, list: mod.uri, createdAt: now() })
  await w.create(c, 'app.bsky.graph.listblock', { subject: mod.uri, createdAt: now() })
  const listblock = await w.create(d, 'app.bsky.graph.listblock', { subject: mod.uri, createdAt: now() })
  // a post embedding a list (a record embed that is not a quote)
  await w.post(e, 'see this list', { embed: { $type: 'app.bsky.embed.record', record: curate } })

  // a feed generator, a starter pack (reference list + items + feed), a profile joined via it
  const feed = await w.create(a, 'app.bsky.feed.generator', { did: 'did:web:feed.test', displayName: 'My feed', description: 'best posts', avatar: await w.blob(a, 'image'), createdAt: now() })
  await w.create(b, 'app.bsky.feed.generator', { did: 'did:web:other-feed.test', displayName: 'Other', createdAt: now() })
  const ref = await w.create(d, 'app.bsky.graph.list', { purpose: 'app.bsky.graph.defs#referencelist', name: 'n/a', createdAt: now() })
  await w.create(d, 'app.bsky.graph.listitem', { subject: a, list: ref.uri, createdAt: now() })
  await w.create(d, 'app.bsky.graph.listitem', { subject: b, list: ref.uri, createdAt: now() })
  const pack = await w.create(d, 'app.bsky.graph.starterpack', { name: 'Starters', list: ref.uri, feeds: [{ uri: feed.uri }], createdAt: now() })
  await w.put(c, 'app.bsky.actor.profile', 'self', { displayName: 'Carol', joinedViaStarterPack: pack, createdAt: now() })

  // a labeler service (rkey self)
  await w.put(e, 'app.bsky.labeler.service', 'self', { policies: { labelValues: ['spam', 'rude'] }, createdAt: now() })

  // a threadgate and a postgate (rkey = the post's rkey); a gate on a second post, deleted
  const gated = await w.post(a, 'only people I follow may reply')
  await w.create(a, 'app.bsky.feed.threadgate', { post: gated.uri, allow: [{ $type: 'app.bsky.feed.threadgate#followingRule' }], createdAt: now() }, rkeyOf(gated.uri))
  const noQuotes = await w.post(b, 'do not quote me')
  await w.create(b, 'app.bsky.feed.postgate', { post: noQuotes.uri, embeddingRules: [{ $type: 'app.bsky.feed.postgate#disableRule' }], detachedEmbeddingUris: [], createdAt: now() }, rkeyOf(noQuotes.uri))
  const gated2 = await w.post(c, 'gate removed later')
  const gate2 = await w.create(c, 'app.bsky.feed.threadgate', { post: gated2.uri, allow: [], createdAt: now() }, rkeyOf(gated2.uri))

  // verifications (one undone)
  const handleOf = (did: string) => activity.actors.find((x) => x.did === did)?.handle ?? ''
  await w.create(a, 'app.bsky.graph.verification', { subject: b, handle: handleOf(b), displayName: 'Bob', createdAt: now() })
  const verif = await w.create(c, 'app.bsky.graph.verification', { subject: d, handle: handleOf(d), displayName: 'Dan', createdAt: now() })
  await w.create(c, 'app.bsky.graph.verification', { subject: e, handle: handleOf(e), displayName: 'Eve', createdAt: now() })

  // deletes
  for (const uri of [block.uri, item.uri, listblock.uri, verif.uri, gate2.uri, deletedEmbed.uri]) await w.delete(uri.split('/')[2] ?? '', uri)

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
    facets: [{ index: { byteStart: Buffer.byteLength(prefix), byteEnd: Buffer.byteLength(prefix + mention) }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: g }] }],
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
  await w.create(f, 'app.bsky.feed.postgate', { post: unquotable.uri, embeddingRules: [{ $type: 'app.bsky.feed.postgate#disableRule' }], createdAt: now() }, rkeyOf(unquotable.uri))
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
    embed: { $type: 'app.bsky.embed.recordWithMedia', record: { $type: 'app.bsky.embed.record', record: unquotable }, media: { $type: 'app.bsky.embed.images', images: [{ image: await w.blob(h, 'image'), alt: 'x' }] } },
  }) // violates
}

describe('differential on a real network: our ingester + indexer vs bsky AppView (dev-env TestNetwork)', () => {
  let refDb: TestDatabase
  let oursDb: TestDatabase
  let net: AppViewNetwork
  let apps: Record<string, AppProcess> = {}
  let redis: Redis
  let ours: pg.Client
  let ref: pg.Client
  let dids: string[] = []
  const stream = `diff_live_${process.pid}`
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

  beforeAll(async () => {
    const t0 = Date.now()
    ;[refDb, oursDb] = await Promise.all([createTestDatabase('diff_bsky'), createTestDatabase('diff_ours')])
    const r = new URL(redisUrl)
    net = await startNetworkWithAppView({ dbPostgresUrl: refDb.directUrl, dbPostgresSchema: 'ref', redisHost: `${r.hostname}:${r.port || 6379}` })
    redis = new Redis(redisUrl)
    // Our ingester starts from the PDS's current seq (a stored cursor), so it misses nothing of
    // the workload however long its websocket takes to connect.
    await redis.set(cursorKey(stream, net.pdsUrl), String(await net.pdsSeq()))
    const all = await createApps({
      root,
      redisUrl,
      databaseUrl: oursDb.url,
      relayHosts: [net.pdsUrl],
      plcUrl: net.plcUrl,
      handleResolverUrl: net.pdsUrl,
      logDir: join(root, '.local', 'logs', `differential-${process.pid}`),
      extra: {
        ingester: { INGESTER_BACKFILL_REPOS: 'false', INGESTER_FIREHOSE_STREAM: stream, INGESTER_LABEL_STREAM: `${stream}_labels`, INGESTER_REPO_STREAM: `${stream}_repos`, INGESTER_BATCH_TIMEOUT_MS: '20', INGESTER_CURSOR_INTERVAL_MS: '50' },
        indexer: { INDEXER_STREAMS: stream, INDEXER_LABEL_STREAM: `${stream}_labels`, DATABASE_MIGRATION_URL: oursDb.directUrl, INDEXER_CONCURRENCY: '8', INDEXER_BATCH_SIZE: '100', DB_POOL_MAX_SIZE: '10' },
      },
    })
    apps = { ingester: all.ingester, indexer: all.indexer }
    all.backfiller.close()
    for (const app of Object.values(apps)) app.start()
    await Promise.all(Object.values(apps).map((app) => app.waitReady()))
    const t1 = Date.now()

    // bsky has indexed everything the PDS sequenced so far
    const settle = async (): Promise<void> => {
      const seq = await net.pdsSeq()
      await waitFor(async () => (await net.appviewSeq()) >= seq, 30_000, `bsky's indexer at seq ${seq}`)
      await net.appviewProcessAll()
    }
    const result = await workload(net.seed, settle)
    dids = result.dids
    const t2 = Date.now()

    // caught up: bsky's subscription cursor and ours (the ingester's stored cursor, then every
    // entry of the stream delivered to the indexer's group and acked) at the PDS's last seq
    const target = await net.pdsSeq()
    await waitFor(async () => (await net.appviewSeq()) >= target, 30_000, `bsky's indexer at seq ${target}`)
    await net.appviewProcessAll()
    await waitFor(async () => {
      const cursor = Number((await redis.get(cursorKey(stream, net.pdsUrl))) ?? '-1')
      if (cursor < target) return false
      const info = fields((await redis.xinfo('STREAM', stream)) as unknown[])
      const group = ((await redis.xinfo('GROUPS', stream)) as unknown[][]).map(fields).find((g) => g.name === 'indexer_group')
      return !!group && Number(group.pending) === 0 && group['last-delivered-id'] === info['last-generated-id']
    }, 30_000, `our indexer at seq ${target}`)
    console.log(`differential: set-up ${t1 - t0} ms, workload ${t2 - t1} ms (${JSON.stringify(result.counts)}), catch-up ${Date.now() - t2} ms, pds seq ${target}`)

    ours = new pg.Client({ connectionString: oursDb.directUrl })
    ref = new pg.Client({ connectionString: refDb.directUrl })
    await Promise.all([ours.connect(), ref.connect()])
    await ref.query(`SET search_path TO ${net.appviewSchema}`)
  }, 150_000)

  afterAll(async () => {
    for (const app of Object.values(apps)) {
      await app.stop('SIGTERM', 10_000).catch(() => undefined)
      app.close()
    }
    await Promise.all([ours?.end(), ref?.end()].map((p) => p?.catch(() => undefined)))
    await net?.close().catch(() => undefined)
    if (redis) {
      const keys = [stream, `${stream}_labels`, `${stream}_repos`, ...(net ? [cursorKey(stream, net.pdsUrl)] : [])]
      await redis.del(...keys).catch(() => undefined)
      await redis.quit().catch(() => undefined)
    }
    await Promise.all([refDb?.drop(), oursDb?.drop()].map((p) => p?.catch(() => undefined)))
  }, 60_000)

  async function compare(queries: Record<string, string>): Promise<{ diffs: Record<string, unknown>; sizes: Record<string, number> }> {
    const diffs: Record<string, unknown> = {}
    const sizes: Record<string, number> = {}
    for (const [table, text] of Object.entries(queries)) {
      const [a, b] = await Promise.all([rows(ours, text, dids), rows(ref, BSKY_SIDE[table] ?? text, dids)])
      sizes[table] = b.length
      const d = diffRows(a, b)
      if (d) diffs[table] = d
    }
    return { diffs, sizes }
  }

  it('issue #5: post, like, repost, follow, actor_block, profile, actor, post_agg, profile_agg equal bsky', async () => {
    const { diffs, sizes } = await compare(ISSUE5)
    console.log('issue #5 rows compared (bsky side)', JSON.stringify(sizes))
    if (Object.keys(diffs).length) console.log('issue #5 differences', JSON.stringify(diffs, null, 1))
    expect(diffs).toEqual({})
    // the workload reached every table on bsky's side (so equal means something)
    for (const [table, n] of Object.entries(sizes)) expect(n, table).toBeGreaterThan(0)
    expect((await ours.query(`SELECT count(*)::int AS n FROM post WHERE creator = ANY($1)`, [dids])).rows[0].n).toBeGreaterThan(10)
  })

  it('issue #6: list, list_item, list_block, feed_generator, starter_pack, labeler, gates, verification, embeds, quote, quoteCount equal bsky', async () => {
    const { diffs, sizes } = await compare(ISSUE6)
    console.log('issue #6 rows compared (bsky side)', JSON.stringify(sizes))
    if (Object.keys(diffs).length) console.log('issue #6 differences', JSON.stringify(diffs, null, 1))
    expect(diffs).toEqual({})
    for (const [table, n] of Object.entries(sizes)) expect(n, table).toBeGreaterThan(0)
  })

  it('gates: post hasThreadGate, hasPostGate, violatesThreadGate, violatesEmbeddingRules and replyCount equal bsky', async () => {
    const { diffs, sizes } = await compare(GATES)
    const counts = FLAGS.map((f) => `count(*) FILTER (WHERE "${f}")::int AS "${f}"`).join(', ')
    const trues = (await ref.query(`SELECT ${counts} FROM post WHERE ${byCreator}`, [dids])).rows[0] as Record<string, number>
    // posts whose replyCount on bsky's side leaves out some of their replies (the violating ones)
    trues.fewerReplies = (await ref.query(`SELECT count(*)::int AS n FROM post_agg a WHERE ${didOf('a.uri')}
      AND a."replyCount" < (SELECT count(*) FROM post p WHERE p."replyParent" = a.uri)`, [dids])).rows[0].n
    console.log('gates rows compared (bsky side)', JSON.stringify(sizes), 'true on bsky side', JSON.stringify(trues))
    if (Object.keys(diffs).length) console.log('gates differences', JSON.stringify(diffs, null, 1))
    expect(diffs).toEqual({})
    // the workload set each flag on bsky's side (so equal means something)
    for (const f of [...FLAGS, 'fewerReplies']) expect(trues[f], f).toBeGreaterThan(0)
  })
})

/** `[k, v, k, v]` (XINFO) → object. */
function fields(reply: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = reply[i + 1]
  return out
}
