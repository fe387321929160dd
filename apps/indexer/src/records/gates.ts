import type { RecordModule } from './types.js'
import { tableSpec } from './tables.js'
import { normalizeDatetime, str } from './util.js'

const POST = 'app.bsky.feed.post'

/**
 * A gate record (threadgate, postgate) → its table. A gate lives at the rkey of its post in
 * the same repo; one that names another post is refused, as bsky refuses it. The post's
 * `hasThreadGate` / `hasPostGate` and the violations of replies and quotes follow from it
 * (writer/post-flags.ts).
 */
function gate(collection: string, table: string, what: string): RecordModule {
  return {
    collection,
    lexiconId: collection,
    main: tableSpec(table, 'uri', 'uri,cid,creator,postUri,createdAt,indexedAt'),
    extra: [],
    gates: POST,
    check(ref, record) {
      const post = str(record.post)
      return post !== `at://${ref.did}/${POST}/${ref.rkey}` ? `creator and rkey of ${what} do not match its post` : null
    },
    toRows(ref, record) {
      return {
        main: {
          uri: ref.uri,
          cid: ref.cid,
          creator: ref.did,
          postUri: str(record.post) ?? '',
          createdAt: normalizeDatetime(record.createdAt),
          indexedAt: ref.indexedAt,
        },
        extra: [],
      }
    },
    aggKeys: () => [],
    aggKeysOfRecord: () => [],
  }
}

/** app.bsky.feed.threadgate → `thread_gate`, `post.hasThreadGate`. */
export const threadGate = gate('app.bsky.feed.threadgate', 'thread_gate', 'thread gate')
/** app.bsky.feed.postgate → `post_gate`, `post.hasPostGate`. */
export const postGate = gate('app.bsky.feed.postgate', 'post_gate', 'post gate')
