import type { RecordModule } from './types.js'
import { tableSpec } from './tables.js'
import { normalizeDatetime, str } from './util.js'

/**
 * app.bsky.graph.verification → `verification` (one per creator and subject). bsky also
 * notifies the subject; notifications are not written (DATABASE.md).
 */
export const verification: RecordModule = {
  collection: 'app.bsky.graph.verification',
  lexiconId: 'app.bsky.graph.verification',
  main: tableSpec('verification', 'uri', 'uri,cid,rkey,creator,subject,handle,displayName,createdAt,indexedAt'),
  extra: [],
  uniqueGroup: ['subject', 'creator'],
  toRows(ref, record) {
    const subject = str(record.subject)
    if (subject === null) return null
    return {
      main: {
        uri: ref.uri,
        cid: ref.cid,
        rkey: ref.rkey,
        creator: ref.did,
        subject,
        handle: str(record.handle) ?? '',
        displayName: str(record.displayName) ?? '',
        createdAt: normalizeDatetime(record.createdAt),
        indexedAt: ref.indexedAt,
      },
      extra: [],
    }
  },
  aggKeys: () => [],
  aggKeysOfRecord: () => [],
}
