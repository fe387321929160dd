// A firehose-like event mix for the indexer bench, as JSON StreamEvents (docs/design.md):
// likes 45%, posts 25% (replies, quotes, images; 4% of them with a thread gate, 2% with a post
// gate), follows 10%, reposts 10%, and 10% split between profile updates, blocks, every other
// record type (lists, list items, list blocks, feed generators, starter packs, verifications)
// and deletes of earlier likes / posts / follows / reposts.
// All records are valid against their lexicons; CIDs are real CIDv1 strings.
import { createHash } from 'node:crypto'

const B32 = 'abcdefghijklmnopqrstuvwxyz234567'
const TID = '234567abcdefghijklmnopqrstuvwxyz'

function base32(bytes) {
  let bits = 0
  let value = 0
  let out = ''
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff
    bits += 8
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31]
  return out
}

/** CIDv1 sha-256 of a seed: dag-cbor (records, commits) or raw (blobs). */
export const cidFor = (seed, codec = 0x71) =>
  `b${base32(Uint8Array.from([0x01, codec, 0x12, 0x20, ...createHash('sha256').update(seed).digest()]))}`

/** A TID-shaped, fixed-width, sortable string from a counter. */
export function tid(n) {
  let s = ''
  let v = BigInt(n) + (1n << 50n)
  for (let i = 0; i < 13; i++) {
    s = TID[Number(v % 32n)] + s
    v /= 32n
  }
  return s
}

import { rng } from '@firehose/testkit/random'

export { rng }

const did = (i) => `did:plc:bench${String(i).padStart(16, '0')}`
const createdAt = '2026-01-01T00:00:00.000Z'

/**
 * `n` events from `accounts` DIDs; revs grow per DID (one commit per event). `existing`: posts
 * already stored ({uri, cid}), of which a `share` of the likes, reposts, replies and quotes pick
 * their subject (bench/indexer-scale: posts with large aggregates); none by default.
 */
export function eventMix(n, { accounts = 20_000, seed = 7, tag = 'a', existing = { posts: [], share: 0 } } = {}) {
  const r = rng(seed)
  const pick = (list) => list[Math.floor(r() * list.length)]
  const posts = []
  const deletable = []
  const events = []
  const start = Date.parse('2026-01-01T00:00:00.000Z')
  for (let i = 0; i < n; i++) {
    const d = did(Math.floor(r() * accounts))
    const rev = tid(10_000_000 + i)
    const rkey = tid(20_000_000 + i) + tag
    const time = new Date(start + i).toISOString()
    const base = { seq: i + 1, time, did: d, commit: cidFor(`commit:${tag}:${i}`), rev }
    const target =
      existing.share > 0 && r() < existing.share
        ? pick(existing.posts)
        : posts.length
          ? pick(posts)
          : { uri: `at://${did(0)}/app.bsky.feed.post/seed`, cid: cidFor('seed') }
    const write = (collection, key, record) => {
      const full = { $type: collection, ...record }
      const ev = { type: 'create', ...base, collection, rkey: key, cid: cidFor(`${tag}:${i}`), record: full }
      events.push(ev)
      return ev
    }
    const x = r()
    if (x < 0.45) {
      write('app.bsky.feed.like', rkey, { subject: target, createdAt })
      deletable.push(['app.bsky.feed.like', d, rkey])
    } else if (x < 0.7) {
      const record = { text: `post ${i} with some text, a few words long`, createdAt, langs: ['en'] }
      const y = r()
      if (y < 0.3) record.reply = { root: target, parent: target }
      else if (y < 0.4) record.embed = { $type: 'app.bsky.embed.record', record: target }
      else if (y < 0.55) {
        record.embed = {
          $type: 'app.bsky.embed.images',
          images: [
            {
              alt: 'a picture',
              image: { $type: 'blob', ref: { $link: cidFor(`img:${tag}:${i}`, 0x55) }, mimeType: 'image/jpeg', size: 123456 },
            },
          ],
        }
      }
      const ev = write('app.bsky.feed.post', rkey, record)
      const uri = `at://${d}/app.bsky.feed.post/${rkey}`
      posts.push({ uri, cid: ev.cid })
      deletable.push(['app.bsky.feed.post', d, rkey])
      // some posts get a thread gate or a post gate (same repo, same rkey), in the same commit
      const g = r()
      if (g < 0.04) {
        const allow =
          g < 0.01 ? [] : [{ $type: 'app.bsky.feed.threadgate#followingRule' }, { $type: 'app.bsky.feed.threadgate#mentionRule' }]
        write('app.bsky.feed.threadgate', rkey, { post: uri, createdAt, allow })
      } else if (g < 0.06) {
        write('app.bsky.feed.postgate', rkey, { post: uri, createdAt, embeddingRules: [{ $type: 'app.bsky.feed.postgate#disableRule' }] })
      }
    } else if (x < 0.8) {
      write('app.bsky.graph.follow', rkey, { subject: did(Math.floor(r() * accounts)), createdAt })
      deletable.push(['app.bsky.graph.follow', d, rkey])
    } else if (x < 0.9) {
      write('app.bsky.feed.repost', rkey, { subject: target, createdAt })
      deletable.push(['app.bsky.feed.repost', d, rkey])
    } else if (x < 0.92) {
      write('app.bsky.actor.profile', 'self', { displayName: `user ${i}`, description: 'hello there' })
    } else if (x < 0.94) {
      write('app.bsky.graph.block', rkey, { subject: did(Math.floor(r() * accounts)), createdAt })
    } else if (x < 0.96) {
      // every other record type the AppView indexes
      const list = `at://${d}/app.bsky.graph.list/l${Math.floor(r() * 3)}`
      const y = r()
      if (y < 0.15)
        write('app.bsky.graph.list', list.slice(list.lastIndexOf('/') + 1), {
          name: `list ${i}`,
          purpose: 'app.bsky.graph.defs#curatelist',
          createdAt,
        })
      else if (y < 0.55) write('app.bsky.graph.listitem', rkey, { subject: did(Math.floor(r() * accounts)), list, createdAt })
      else if (y < 0.65)
        write('app.bsky.graph.listblock', rkey, { subject: `at://${did(Math.floor(r() * accounts))}/app.bsky.graph.list/l0`, createdAt })
      else if (y < 0.75) write('app.bsky.feed.generator', rkey, { did: 'did:web:feed.example.com', displayName: `feed ${i}`, createdAt })
      else if (y < 0.85) write('app.bsky.graph.starterpack', rkey, { name: `pack ${i}`, list, createdAt })
      else
        write('app.bsky.graph.verification', rkey, {
          subject: did(Math.floor(r() * accounts)),
          handle: `u${i}.test`,
          displayName: `User ${i}`,
          createdAt,
        })
    } else if (deletable.length) {
      // the delete comes from the record's own repo, with a later rev
      const [collection, owner, key] = deletable.splice(Math.floor(r() * deletable.length), 1)[0]
      events.push({ type: 'delete', ...base, did: owner, collection, rkey: key })
    }
  }
  return events
}
