import type { RecordModule } from './types.js'
import { tableSpec } from './tables.js'
import { blobCid, normalizeDatetime, str } from './util.js'

/** app.bsky.feed.generator → `feed_generator`; its likes are counted like a post's. */
export const feedGenerator: RecordModule = {
  collection: 'app.bsky.feed.generator',
  lexiconId: 'app.bsky.feed.generator',
  main: tableSpec('feed_generator', 'uri', 'uri,cid,creator,feedDid,displayName,description,descriptionFacets,avatarCid,createdAt,indexedAt'),
  extra: [],
  toRows(ref, record) {
    return {
      main: {
        uri: ref.uri,
        cid: ref.cid,
        creator: ref.did,
        feedDid: str(record.did) ?? '',
        displayName: str(record.displayName),
        description: str(record.description),
        descriptionFacets: record.descriptionFacets === undefined ? null : JSON.stringify(record.descriptionFacets),
        avatarCid: blobCid(record.avatar),
        createdAt: normalizeDatetime(record.createdAt),
        indexedAt: ref.indexedAt,
      },
      extra: [],
    }
  },
  aggKeys: () => [],
  aggKeysOfRecord: () => [],
}
