import type { RecordModule } from './types.js'
import { tableSpec } from './tables.js'
import { normalizeDatetime, str } from './util.js'

const POST = 'app.bsky.feed.post'

/**
 * A gate record (threadgate, postgate) → its table, and the flag it sets on the post it gates.
 * A gate lives at the rkey of its post in the same repo; one that names another post is
 * refused, as bsky refuses it. The flag is true while the gate exists, false once it was
 * deleted, null if there never was one (writer/flags.ts), in any delivery order.
 */
function gate(collection: string, table: string, column: string, what: string): RecordModule {
  return {
    collection,
    lexiconId: collection,
    main: tableSpec(table, 'uri', 'uri,cid,creator,postUri,createdAt,indexedAt'),
    extra: [],
    flag: { table: 'post', column, targetCollection: POST },
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
export const threadGate = gate('app.bsky.feed.threadgate', 'thread_gate', 'hasThreadGate', 'thread gate')
/** app.bsky.feed.postgate → `post_gate`, `post.hasPostGate`. */
export const postGate = gate('app.bsky.feed.postgate', 'post_gate', 'hasPostGate', 'post gate')
