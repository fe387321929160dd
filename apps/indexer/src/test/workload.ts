import type { LexRecord, StreamEvent } from '@firehose/streams'
import { createdAt as baseCreatedAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from './events.js'

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

const POST = 'app.bsky.feed.post'
const PATHS: Record<string, string[]> = {
  [POST]: ['p0', 'p1', 'p2', 'p3', 'p4'],
  'app.bsky.feed.like': ['l0', 'l1', 'l2', 'l3', 'l4', 'l5'],
  'app.bsky.feed.repost': ['r0', 'r1', 'r2', 'r3'],
  'app.bsky.graph.follow': ['f0', 'f1', 'f2', 'f3'],
  'app.bsky.graph.block': ['b0', 'b1', 'b2'],
  'app.bsky.actor.profile': ['self'],
}

/**
 * Random repo histories for `dids` accounts: creates, updates and deletes across posts, likes,
 * reposts, follows, blocks and profiles, with strictly increasing revs (as in a real repo),
 * subjects chosen among a small set so that duplicates (two likes of one post) and replies
 * happen. Returned in rev order. `updateGraph: false` never updates likes, reposts, follows
 * and blocks (clients do not; bsky's indexer fails on an update that makes a duplicate).
 */
export function generateHistory(seed: number, dids: number, ops: number, opts: { updateGraph?: boolean } = {}): StreamEvent[] {
  const updateGraph = opts.updateGraph ?? true
  const r = rng(seed)
  const accounts = Array.from({ length: dids }, (_, i) => did(i + 1))
  const postUris = accounts.flatMap((d) => (PATHS[POST] ?? []).map((k) => uriOf(d, POST, k)))
  const live = new Set<string>()
  const events: StreamEvent[] = []
  for (let n = 0; n < ops; n++) {
    const d = pick(r, accounts)
    const collection = pick(r, Object.keys(PATHS))
    const rkey = pick(r, PATHS[collection] ?? [])
    const key = `${d}/${collection}/${rkey}`
    const rev = tid(1000 + n)
    const time = new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString()
    const createdAt = r() < 0.5 ? baseCreatedAt : time
    const mutable = collection === POST || collection === 'app.bsky.actor.profile' || updateGraph
    if (live.has(key) && (r() < 0.4 || !mutable)) {
      live.delete(key)
      events.push(deleteEvent(d, collection, rkey, rev, time))
      continue
    }
    let record: LexRecord
    switch (collection) {
      case POST: {
        const rec: LexRecord = { text: `t${n}`, createdAt }
        if (r() < 0.5) {
          const parent = pick(r, postUris)
          rec.reply = { root: strongRef(pick(r, postUris)), parent: strongRef(parent) }
        }
        if (r() < 0.2) rec.embed = { $type: 'app.bsky.embed.record', record: strongRef(pick(r, postUris)) }
        if (r() < 0.3) rec.langs = ['en']
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
      default:
        record = { displayName: `name ${n}` }
    }
    events.push(writeEvent(d, collection, rkey, rev, record, live.has(key) ? 'update' : 'create', time))
    live.add(key)
  }
  return events
}
