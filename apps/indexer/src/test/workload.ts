import type { LexRecord, StreamEvent } from '@firehose/streams'
import { createdAt as baseCreatedAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from './events.js'
import { uriDid } from '../records/util.js'
import { pick, rng } from './rng.js'
import {
  gatedBy,
  POST,
  LIST,
  POST_RKEYS,
  PATHS,
  MORE_PATHS,
  GATES,
  GRAPH,
  type GateRules,
  gateAllow,
  blob,
  embedOf,
  optOut,
  groupOf,
} from './workload-records.js'

export { pick, rng, shuffle } from './rng.js'
export { blob, type GateRules } from './workload-records.js'

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
  opts: { updateGraph?: boolean; allTypes?: boolean; gateRules?: GateRules; freshGraphRkeys?: boolean } = {},
): StreamEvent[] {
  const updateGraph = opts.updateGraph ?? true
  const gateRules = opts.gateRules ?? 'all'
  const paths = opts.allTypes === false ? PATHS : { ...PATHS, ...MORE_PATHS }
  const r = rng(seed)
  // choices added for notifications and opt-outs draw from their own generator, so that the
  // histories of the seeds other tests rely on stay as they were
  const r2 = rng(seed * 7 + 3)
  // `freshGraphRkeys`: each life of a like, repost, follow, … at an rkey of its own (as TIDs
  // are), so that no uri is created twice
  const freshGraph = opts.freshGraphRkeys ?? false
  const lives = new Map<string, string>()
  const rkeyOf = (key: string, rkey: string): string => lives.get(key) ?? rkey
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
      events.push(deleteEvent(d, collection, rkeyOf(key, rkey), rev, time))
      lives.delete(key)
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
          rec.facets = [
            { index: { byteStart: 0, byteEnd: 2 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: pick(r, accounts) }] },
          ]
        }
        if (r() < 0.3) rec.langs = ['en']
        if (r() < 0.1) rec.tags = ['tag']
        record = rec
        break
      }
      case 'app.bsky.feed.like':
      case 'app.bsky.feed.repost':
        record = { subject: strongRef(pick(r, postUris.slice(0, 6))), createdAt }
        // now and then through someone's repost (like-via-repost, repost-via-repost)
        if (r2() < 0.3)
          record.via = strongRef(uriOf(pick(r2, accounts), 'app.bsky.feed.repost', pick(r2, PATHS['app.bsky.feed.repost'] ?? [])))
        break
      case 'app.bsky.graph.follow':
      case 'app.bsky.graph.block':
        record = { subject: pick(r, accounts), createdAt }
        break
      case 'app.bsky.actor.profile':
        record = { displayName: `name ${n}`, ...(r() < 0.3 ? { avatar: blob(`avatar${n}`, 'image/png') } : {}) }
        // every other account signed up through the next one's starter pack (kept in every
        // version of its profile, as clients keep it)
        if (accounts.indexOf(d) % 2 === 0) {
          record.joinedViaStarterPack = strongRef(
            uriOf(accounts[(accounts.indexOf(d) + 1) % accounts.length] ?? d, 'app.bsky.graph.starterpack', 'sp0'),
          )
        }
        break
      case LIST:
        record = {
          name: `list ${n}`,
          purpose: r() < 0.5 ? 'app.bsky.graph.defs#curatelist' : 'app.bsky.graph.defs#modlist',
          createdAt,
          ...(r() < 0.5
            ? {
                description: `about ${n}`,
                descriptionFacets: [
                  { index: { byteStart: 0, byteEnd: 5 }, features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'about' }] },
                ],
              }
            : {}),
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
        record = {
          did: 'did:web:feed.example.com',
          displayName: `feed ${n}`,
          createdAt,
          ...(r() < 0.5 ? { description: `feed about ${n}` } : {}),
        }
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
    if (freshGraph && GRAPH.has(collection) && !live.has(key)) lives.set(key, `${rkey}-${n}`)
    events.push(writeEvent(d, collection, rkeyOf(key, rkey), rev, record, live.has(key) ? 'update' : 'create', time))
    if (group !== null && !live.has(key)) {
      groupSize.set(group, (groupSize.get(group) ?? 0) + 1)
      groupOfPath.set(key, group)
    }
    live.add(key)
    if (collection === LIST && r2() < 0.7) events.push(optOut(r2, accounts, d, rkey, rev, time, live))
  }
  return events
}
