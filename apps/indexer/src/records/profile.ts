import type { RecordModule } from './types.js'
import { tableSpec } from './tables.js'
import { blobCid, str, strongRef } from './util.js'

/**
 * app.bsky.actor.profile → `profile`, only for rkey `self` (as bsky). `createdAt` falls back to
 * the indexing time when the record has none (bsky uses the wall clock, which a replay would
 * change).
 */
export const profile: RecordModule = {
  collection: 'app.bsky.actor.profile',
  lexiconId: 'app.bsky.actor.profile',
  main: tableSpec(
    'profile',
    'uri',
    'uri,cid,creator,displayName,description,avatarCid,bannerCid,joinedViaStarterPackUri,createdAt,indexedAt,pinnedPost,pinnedPostCid',
  ),
  extra: [],
  toRows(ref, record) {
    if (ref.rkey !== 'self') return null
    const pinned = strongRef(record.pinnedPost)
    return {
      main: {
        uri: ref.uri,
        cid: ref.cid,
        creator: ref.did,
        displayName: str(record.displayName),
        description: str(record.description),
        avatarCid: blobCid(record.avatar),
        bannerCid: blobCid(record.banner),
        joinedViaStarterPackUri: strongRef(record.joinedViaStarterPack)?.uri ?? null,
        createdAt: str(record.createdAt) ?? ref.indexedAt,
        indexedAt: ref.indexedAt,
        pinnedPost: pinned?.uri ?? null,
        pinnedPostCid: pinned?.cid ?? null,
      },
      extra: [],
    }
  },
  aggKeys: () => [],
  aggKeysOfRecord: () => [],
}
