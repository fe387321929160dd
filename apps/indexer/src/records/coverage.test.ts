import { describe, expect, it } from 'vitest'
import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { moduleFor } from './index.js'

/**
 * Each indexing plugin of the installed @atproto/bsky, and the collection it indexes: a table of
 * ours (a record module) or, for the plugins that write nothing but `record` (bsky's own
 * placeholders), `record` only. A plugin a newer @atproto/bsky adds fails the test until it is
 * indexed here or listed.
 */
const PLUGINS: Record<string, { collection: string; recordOnly?: true }> = {
  block: { collection: 'app.bsky.graph.block' },
  'chat-declaration': { collection: 'chat.bsky.actor.declaration', recordOnly: true },
  'feed-generator': { collection: 'app.bsky.feed.generator' },
  follow: { collection: 'app.bsky.graph.follow' },
  'germ-declaration': { collection: 'com.germnetwork.declaration', recordOnly: true },
  labeler: { collection: 'app.bsky.labeler.service' },
  like: { collection: 'app.bsky.feed.like' },
  'list-block': { collection: 'app.bsky.graph.listblock' },
  'list-item': { collection: 'app.bsky.graph.listitem' },
  list: { collection: 'app.bsky.graph.list' },
  'notif-declaration': { collection: 'app.bsky.notification.declaration', recordOnly: true },
  'post-gate': { collection: 'app.bsky.feed.postgate' },
  post: { collection: 'app.bsky.feed.post' },
  profile: { collection: 'app.bsky.actor.profile' },
  'reference-list-opt-out': { collection: 'app.bsky.graph.referencelistoptout' },
  repost: { collection: 'app.bsky.feed.repost' },
  'starter-pack': { collection: 'app.bsky.graph.starterpack' },
  status: { collection: 'app.bsky.actor.status', recordOnly: true },
  'thread-gate': { collection: 'app.bsky.feed.threadgate' },
  verification: { collection: 'app.bsky.graph.verification' },
}

describe("@atproto/bsky's indexing plugins", () => {
  it('each one is indexed here (or, as in bsky, kept in `record` only)', () => {
    const main = createRequire(import.meta.url).resolve('@atproto/bsky')
    const dir = join(dirname(main), 'data-plane/server/indexing/plugins')
    const plugins = readdirSync(dir)
      .filter((f) => f.endsWith('.js'))
      .map((f) => f.slice(0, -3))
      .sort()
    expect(plugins).toEqual(Object.keys(PLUGINS).sort())
    for (const { collection, recordOnly } of Object.values(PLUGINS)) {
      expect(moduleFor(collection) !== undefined, collection).toBe(!recordOnly)
    }
  })
})
