import type { LexRecord, StreamEvent } from '@firehose/streams'
import { createdAt as baseCreatedAt, deleteEvent, did, rawCidFor, strongRef, tid, uriOf, writeEvent } from './events.js'
import { uriDid } from '../records/util.js'

/** A seeded PRNG (mulberry32), so a failing seed can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const pick = <T>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)] as T

export function shuffle<T>(r: () => number, list: T[]): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    ;[list[i], list[j]] = [list[j] as T, list[i] as T]
  }
  return list
}

/** Whether the post at `uri` has a live gate of `collection` (same repo, same rkey). */
const gatedBy = (live: ReadonlySet<string>, uri: string, collection: string): boolean =>
  live.has(`${uriDid(uri)}/${collection}/${uri.slice(uri.lastIndexOf('/') + 1)}`)
const POST = 'app.bsky.feed.post'
const LIST = 'app.bsky.graph.list'
const POST_RKEYS = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']
const PATHS: Record<string, string[]> = {
  [POST]: POST_RKEYS,
  'app.bsky.feed.like': ['l0', 'l1', 'l2', 'l3', 'l4', 'l5'],
  'app.bsky.feed.repost': ['r0', 'r1', 'r2', 'r3'],
  'app.bsky.graph.follow': ['f0', 'f1', 'f2', 'f3'],
  'app.bsky.graph.block': ['b0', 'b1', 'b2'],
  'app.bsky.actor.profile': ['self'],
}
/** Every other record type bsky indexes (and one it keeps in `record` only). */
const MORE_PATHS: Record<string, string[]> = {
  [LIST]: ['ls0', 'ls1'],
  'app.bsky.graph.listitem': ['li0', 'li1', 'li2', 'li3'],
  'app.bsky.graph.listblock': ['lb0', 'lb1'],
  'app.bsky.feed.generator': ['fg0', 'fg1'],
  'app.bsky.graph.starterpack': ['sp0'],
  'app.bsky.labeler.service': ['self', 'other'],
  'app.bsky.feed.threadgate': POST_RKEYS,
  'app.bsky.feed.postgate': POST_RKEYS,
  'app.bsky.graph.verification': ['v0', 'v1', 'v2'],
  'chat.bsky.actor.declaration': ['self'],
}
const GATES = ['app.bsky.feed.threadgate', 'app.bsky.feed.postgate']
/** Types bsky keeps unique per creator and subject: clients never update them. */
const GRAPH = new Set([
  'app.bsky.feed.like',
  'app.bsky.feed.repost',
  'app.bsky.graph.follow',
  'app.bsky.graph.block',
  'app.bsky.graph.listitem',
  'app.bsky.graph.listblock',
  'app.bsky.graph.verification',
])

export type GateRules = 'all' | 'static' | 'none'

const TG = 'app.bsky.feed.threadgate'
function gateAllow(r: () => number, rules: GateRules, ownList: string): LexRecord {
  if (rules === 'none' || r() < 0.2) return {}
  const kinds = rules === 'static' ? ['none', 'mention'] : ['none', 'mention', 'following', 'follower', 'list']
  const allow: LexRecord[] = []
  for (const k of kinds) {
    if (k === 'none' || r() < 0.5) continue
    allow.push(k === 'list' ? { $type: `${TG}#listRule`, list: ownList } : { $type: `${TG}#${k}Rule` })
  }
  return { allow }
}

/** A blob in atproto JSON form (raw-codec CID). */
export const blob = (seed: string, mimeType: string): LexRecord => ({
  $type: 'blob',
  ref: { $link: rawCidFor(seed) },
  mimeType,
  size: 1000,
})

function embedOf(r: () => number, n: number, postUris: readonly string[], gated: readonly string[]): LexRecord {
  const images = (): LexRecord => ({
    $type: 'app.bsky.embed.images',
    images: Array.from({ length: 1 + Math.floor(r() * 3) }, (_, i) => ({ image: blob(`img${n}.${i}`, 'image/jpeg'), alt: r() < 0.5 ? `alt ${i}` : '' })),
  })
  const external = (): LexRecord => ({
    $type: 'app.bsky.embed.external',
    external: { uri: `https://example.com/${n}`, title: `title ${n}`, description: r() < 0.5 ? `about ${n}` : '', ...(r() < 0.5 ? { thumb: blob(`thumb${n}`, 'image/png') } : {}) },
  })
  const gallery = (): LexRecord => ({
    $type: 'app.bsky.embed.gallery',
    items: Array.from({ length: 1 + Math.floor(r() * 3) }, (_, i) => ({
      $type: 'app.bsky.embed.gallery#image',
      image: blob(`gal${n}.${i}`, 'image/jpeg'),
      alt: `g ${i}`,
      aspectRatio: { width: 4, height: 3 },
    })),
  })
  const video = (): LexRecord => ({ $type: 'app.bsky.embed.video', video: blob(`vid${n}`, 'video/mp4'), ...(r() < 0.5 ? { alt: `video ${n}` } : {}) })
  // half the quotes are of a post with a postgate when there is one
  const record = (): LexRecord => ({ $type: 'app.bsky.embed.record', record: strongRef(pick(r, gated.length && r() < 0.5 ? gated : postUris)) })
  switch (Math.floor(r() * 6)) {
    case 0:
      return images()
    case 1:
      return external()
    case 2:
      return video()
    case 3:
      return record()
    case 4:
      return gallery()
    default:
      return { $type: 'app.bsky.embed.recordWithMedia', record: record(), media: pick(r, [images, external, video, gallery])() }
  }
}

/**
 * Random repo histories for `dids` accounts: creates, updates and deletes with strictly
 * increasing revs (as in a real repo), subjects chosen among a small set so that duplicates
 * (two likes of one post) and replies happen. Returned in rev order. Covers posts (replies,
 * every embed kind), likes, reposts, follows, blocks and profiles, and with `allTypes` (the
 * default) every other record type bsky indexes: lists, list items (some in another account's
 * list: refused), list blocks, feed generators, starter packs, labeler services (one at a
 * non-`self` rkey: not indexed), thread and post gates, verifications, a chat declaration.
 * Thread gates carry `allow` rules of every kind (`gateRules: 'all'`, the default: nobody,
 * mentioned, followed, following, on a list), or only those that depend on no other record's
 * later changes, with gates and gated posts never changed once made (`'static'`: what bsky,
 * which judges a reply once, agrees with), or none (`'none'`).
 * `updateGraph: false` never updates the types bsky keeps unique per creator and subject
 * (clients do not; bsky's indexer fails on an update that makes a duplicate).
 */
export function generateHistory(
  seed: number,
  dids: number,
  ops: number,
  opts: { updateGraph?: boolean; allTypes?: boolean; gateRules?: GateRules } = {},
): StreamEvent[] {
  const updateGraph = opts.updateGraph ?? true
  const gateRules = opts.gateRules ?? 'all'
  const paths = opts.allTypes === false ? PATHS : { ...PATHS, ...MORE_PATHS }
  const r = rng(seed)
  const accounts = Array.from({ length: dids }, (_, i) => did(i + 1))
  const postUris = accounts.flatMap((d) => POST_RKEYS.map((k) => uriOf(d, POST, k)))
  const live = new Set<string>()
  const groupSize = new Map<string, number>()
  const groupOfPath = new Map<string, string>()
  const events: StreamEvent[] = []
  for (let n = 0; n < ops; n++) {
    const d = pick(r, accounts)
    // Posts and likes at least twice as often as the rest.
    const collection = r() < 0.3 ? pick(r, [POST, 'app.bsky.feed.like']) : pick(r, Object.keys(paths))
    // A gate is created for a live post only (bsky sets the post's flag only when the gate
    // comes after the post), and goes with its post in the same commit, as clients do.
    const livePosts = POST_RKEYS.filter((k) => live.has(`${d}/${POST}/${k}`))
    if (GATES.includes(collection) && livePosts.length === 0) continue
    const rkey = pick(r, GATES.includes(collection) ? livePosts : (paths[collection] ?? []))
    const key = `${d}/${collection}/${rkey}`
    const rev = tid(1000 + n)
    const time = new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString()
    const createdAt = r() < 0.5 ? baseCreatedAt : time
    // A gated post is not updated: bsky rebuilds an updated post's row without its gate flags.
    const gated = collection === POST && GATES.some((g) => live.has(`${d}/${g}/${rkey}`))
    // bsky judges a reply or quote once, against the gate it finds: with `gateRules: 'static'`
    // a gate, and a gated post, stay as they are once made (ours re-judges on their change).
    if (gateRules === 'static' && live.has(key) && (gated || GATES.includes(collection))) continue
    const mutable = (!GRAPH.has(collection) || updateGraph) && !gated
    if (live.has(key) && (r() < 0.4 || !mutable)) {
      live.delete(key)
      const group = groupOfPath.get(key)
      if (group !== undefined) {
        groupSize.set(group, (groupSize.get(group) ?? 1) - 1)
        groupOfPath.delete(key)
      }
      if (collection === POST) {
        for (const g of GATES) {
          if (live.delete(`${d}/${g}/${rkey}`)) events.push(deleteEvent(d, g, rkey, rev, time))
        }
      }
      events.push(deleteEvent(d, collection, rkey, rev, time))
      continue
    }
    const ownList = uriOf(d, LIST, pick(r, MORE_PATHS[LIST] ?? []))
    let record: LexRecord
    switch (collection) {
      case POST: {
        const rec: LexRecord = { text: `t${n}`, createdAt }
        if (r() < 0.5) {
          const parent = pick(r, postUris)
          // half the replies go to a gated thread when there is one
          const gatedRoots = postUris.filter((u) => gatedBy(live, u, 'app.bsky.feed.threadgate'))
          // and some to the author's own thread (op_thread_reply)
          const ownRoots = postUris.filter((u) => uriDid(u) === d)
          const root = gatedRoots.length && r() < 0.5 ? pick(r, gatedRoots) : r() < 0.3 ? pick(r, ownRoots) : pick(r, postUris)
          rec.reply = { root: strongRef(root), parent: strongRef(parent) }
        }
        if (r() < 0.5) {
          const postgated = postUris.filter((u) => gatedBy(live, u, 'app.bsky.feed.postgate'))
          rec.embed = embedOf(r, n, postUris, postgated)
        }
        if (r() < 0.2) {
          rec.facets = [{ index: { byteStart: 0, byteEnd: 2 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: pick(r, accounts) }] }]
        }
        if (r() < 0.3) rec.langs = ['en']
        if (r() < 0.1) rec.tags = ['tag']
        record = rec
        break
      }
      case 'app.bsky.feed.like':
      case 'app.bsky.feed.repost':
        record = { subject: strongRef(pick(r, postUris.slice(0, 6))), createdAt }
        break
      case 'app.bsky.graph.follow':
      case 'app.bsky.graph.block':
        record = { subject: pick(r, accounts), createdAt }
        break
      case 'app.bsky.actor.profile':
        record = { displayName: `name ${n}`, ...(r() < 0.3 ? { avatar: blob(`avatar${n}`, 'image/png') } : {}) }
        break
      case LIST:
        record = {
          name: `list ${n}`,
          purpose: r() < 0.5 ? 'app.bsky.graph.defs#curatelist' : 'app.bsky.graph.defs#modlist',
          createdAt,
          ...(r() < 0.5 ? { description: `about ${n}`, descriptionFacets: [{ index: { byteStart: 0, byteEnd: 5 }, features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'about' }] }] } : {}),
          ...(r() < 0.3 ? { avatar: blob(`lav${n}`, 'image/png') } : {}),
        }
        break
      case 'app.bsky.graph.listitem':
        // now and then an item of another account's list: refused
        record = { subject: pick(r, accounts), list: r() < 0.9 ? ownList : uriOf(pick(r, accounts), LIST, 'ls0'), createdAt }
        break
      case 'app.bsky.graph.listblock':
        record = { subject: uriOf(pick(r, accounts), LIST, pick(r, MORE_PATHS[LIST] ?? [])), createdAt }
        break
      case 'app.bsky.feed.generator':
        record = { did: 'did:web:feed.example.com', displayName: `feed ${n}`, createdAt, ...(r() < 0.5 ? { description: `feed about ${n}` } : {}) }
        break
      case 'app.bsky.graph.starterpack':
        record = { name: `pack ${n}`, list: ownList, createdAt }
        break
      case 'app.bsky.labeler.service':
        record = { policies: { labelValues: ['spam', 'rude'] }, createdAt }
        break
      case 'app.bsky.feed.threadgate':
        record = { post: uriOf(d, POST, rkey), createdAt, ...gateAllow(r, gateRules, ownList) }
        break
      case 'app.bsky.feed.postgate':
        record = { post: uriOf(d, POST, rkey), createdAt, embeddingRules: [{ $type: 'app.bsky.feed.postgate#disableRule' }] }
        break
      case 'app.bsky.graph.verification':
        record = { subject: pick(r, accounts), handle: `user${n}.test`, displayName: `User ${n}`, createdAt }
        break
      default:
        record = { allowIncoming: 'following' }
    }
    // With `updateGraph: false` (bsky's order-sensitive indexer) a group has at most 2 members.
    const group = groupOf(d, collection, record)
    if (!updateGraph && group !== null && !live.has(key) && (groupSize.get(group) ?? 0) >= 2) continue
    events.push(writeEvent(d, collection, rkey, rev, record, live.has(key) ? 'update' : 'create', time))
    if (group !== null && !live.has(key)) {
      groupSize.set(group, (groupSize.get(group) ?? 0) + 1)
      groupOfPath.set(key, group)
    }
    live.add(key)
  }
  return events
}

/** The unique group (one like per creator and subject) a record is in, for the types that have one. */
function groupOf(did: string, collection: string, record: LexRecord): string | null {
  if (!GRAPH.has(collection)) return null
  const s = record.subject
  const subject = typeof s === 'string' ? s : s && typeof s === 'object' && !Array.isArray(s) ? String(s.uri) : ''
  const list = typeof record.list === 'string' ? record.list : ''
  return `${collection}|${did}|${subject}|${list}`
}
