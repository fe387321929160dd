import type { LexRecord, StreamEvent } from '@firehose/streams'
import { createdAt, did, strongRef, tid, uriOf, writeEvent } from './events.js'
import { pick, rng } from './workload.js'

/**
 * A firehose-like mix of creates (likes ≈ 50%, posts 15%, reposts 12%, follows 15%, blocks 3%,
 * profiles 2%, other collections 3%) from `accounts` DIDs, all valid records.
 */
export function firehoseMix(n: number, accounts = 5000, seed = 42): StreamEvent[] {
  const r = rng(seed)
  const posts: string[] = []
  const events: StreamEvent[] = []
  for (let i = 0; i < n; i++) {
    const d = did(Math.floor(r() * accounts))
    const rev = tid(10_000_000 + i)
    const rkey = tid(20_000_000 + i)
    const x = r()
    const target = posts.length ? pick(r, posts) : uriOf(did(0), 'app.bsky.feed.post', 'seed')
    if (x < 0.5) events.push(writeEvent(d, 'app.bsky.feed.like', rkey, rev, { subject: strongRef(target), createdAt }))
    else if (x < 0.65) {
      const record: LexRecord = { text: `post ${i} with some text`, createdAt, langs: ['en'] }
      if (r() < 0.3) record.reply = { root: strongRef(target), parent: strongRef(target) }
      events.push(writeEvent(d, 'app.bsky.feed.post', rkey, rev, record))
      posts.push(uriOf(d, 'app.bsky.feed.post', rkey))
    } else if (x < 0.77) events.push(writeEvent(d, 'app.bsky.feed.repost', rkey, rev, { subject: strongRef(target), createdAt }))
    else if (x < 0.92)
      events.push(writeEvent(d, 'app.bsky.graph.follow', rkey, rev, { subject: did(Math.floor(r() * accounts)), createdAt }))
    else if (x < 0.95)
      events.push(writeEvent(d, 'app.bsky.graph.block', rkey, rev, { subject: did(Math.floor(r() * accounts)), createdAt }))
    else if (x < 0.97) events.push(writeEvent(d, 'app.bsky.actor.profile', 'self', rev, { displayName: `n${i}`, description: 'hello' }))
    else events.push(writeEvent(d, 'com.example.other', rkey, rev, { value: i }))
  }
  return events
}
