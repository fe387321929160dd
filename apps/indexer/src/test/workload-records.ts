/** The record contents of the generated histories (workload.ts): paths, gates, embeds, groups. */
import type { LexRecord, StreamEvent } from '@firehose/streams'
import { deleteEvent, rawCidFor, strongRef, uriOf, writeEvent } from './events.js'
import { uriDid } from '../records/util.js'
import { pick } from './rng.js'

/** Whether the post at `uri` has a live gate of `collection` (same repo, same rkey). */
export const gatedBy = (live: ReadonlySet<string>, uri: string, collection: string): boolean =>
  live.has(`${uriDid(uri)}/${collection}/${uri.slice(uri.lastIndexOf('/') + 1)}`)
export const POST = 'app.bsky.feed.post'
export const LIST = 'app.bsky.graph.list'
export const POST_RKEYS = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']
export const PATHS: Record<string, string[]> = {
  [POST]: POST_RKEYS,
  'app.bsky.feed.like': ['l0', 'l1', 'l2', 'l3', 'l4', 'l5'],
  'app.bsky.feed.repost': ['r0', 'r1', 'r2', 'r3'],
  'app.bsky.graph.follow': ['f0', 'f1', 'f2', 'f3'],
  'app.bsky.graph.block': ['b0', 'b1', 'b2'],
  'app.bsky.actor.profile': ['self'],
}
/** Every other record type bsky indexes (and one it keeps in `record` only). */
export const MORE_PATHS: Record<string, string[]> = {
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
export const GATES = ['app.bsky.feed.threadgate', 'app.bsky.feed.postgate']
/** Types bsky keeps unique per creator and subject: clients never update them. */
export const GRAPH = new Set([
  'app.bsky.feed.like',
  'app.bsky.feed.repost',
  'app.bsky.graph.follow',
  'app.bsky.graph.block',
  'app.bsky.graph.listitem',
  'app.bsky.graph.listblock',
  'app.bsky.graph.verification',
])

export type GateRules = 'all' | 'static' | 'none'

export const TG = 'app.bsky.feed.threadgate'
export function gateAllow(r: () => number, rules: GateRules, ownList: string): LexRecord {
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

export function embedOf(r: () => number, n: number, postUris: readonly string[], gated: readonly string[]): LexRecord {
  const images = (): LexRecord => ({
    $type: 'app.bsky.embed.images',
    images: Array.from({ length: 1 + Math.floor(r() * 3) }, (_, i) => ({
      image: blob(`img${n}.${i}`, 'image/jpeg'),
      alt: r() < 0.5 ? `alt ${i}` : '',
    })),
  })
  const external = (): LexRecord => ({
    $type: 'app.bsky.embed.external',
    external: {
      uri: `https://example.com/${n}`,
      title: `title ${n}`,
      description: r() < 0.5 ? `about ${n}` : '',
      ...(r() < 0.5 ? { thumb: blob(`thumb${n}`, 'image/png') } : {}),
    },
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
  const video = (): LexRecord => ({
    $type: 'app.bsky.embed.video',
    video: blob(`vid${n}`, 'video/mp4'),
    ...(r() < 0.5 ? { alt: `video ${n}` } : {}),
  })
  // half the quotes are of a post with a postgate when there is one
  const record = (): LexRecord => ({
    $type: 'app.bsky.embed.record',
    record: strongRef(pick(r, gated.length && r() < 0.5 ? gated : postUris)),
  })
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

export const OPT_OUT = 'app.bsky.graph.referencelistoptout'

/**
 * Another account opts out of (or back into: deletes its opt-out) the list just written, at an
 * rkey of its own per list (one opt-out per account and list: bsky does not promote a duplicate
 * when the kept one goes); one in eight names something that is not a list (kept in `record`
 * only). `rev` is free in that account's repo: each op's rev is used by its own account only.
 */
export function optOut(
  r2: () => number,
  accounts: readonly string[],
  owner: string,
  listRkey: string,
  rev: string,
  time: string,
  live: Set<string>,
): StreamEvent {
  const others = accounts.filter((a) => a !== owner)
  const who = pick(r2, others)
  const rkey = `oo${accounts.indexOf(owner)}${listRkey}`
  const key = `${who}/${OPT_OUT}/${rkey}`
  if (live.delete(key)) return deleteEvent(who, OPT_OUT, rkey, rev, time)
  live.add(key)
  const subject = r2() < 0.125 ? uriOf(owner, POST, 'p0') : uriOf(owner, LIST, listRkey)
  return writeEvent(who, OPT_OUT, rkey, rev, { subject, createdAt: time }, 'create', time)
}

/** The unique group (one like per creator and subject) a record is in, for the types that have one. */
export function groupOf(did: string, collection: string, record: LexRecord): string | null {
  if (!GRAPH.has(collection)) return null
  const s = record.subject
  const subject = typeof s === 'string' ? s : s && typeof s === 'object' && !Array.isArray(s) ? String(s.uri) : ''
  const list = typeof record.list === 'string' ? record.list : ''
  return `${collection}|${did}|${subject}|${list}`
}
