import type { RecordModule } from './types.js'
import { tableSpec } from './tables.js'
import { normalizeDatetime } from './util.js'

/** app.bsky.labeler.service → `labeler`, only for rkey `self` (as bsky). */
export const labeler: RecordModule = {
  collection: 'app.bsky.labeler.service',
  lexiconId: 'app.bsky.labeler.service',
  main: tableSpec('labeler', 'uri', 'uri,cid,creator,createdAt,indexedAt'),
  extra: [],
  toRows(ref, record) {
    if (ref.rkey !== 'self') return null
    return {
      main: { uri: ref.uri, cid: ref.cid, creator: ref.did, createdAt: normalizeDatetime(record.createdAt), indexedAt: ref.indexedAt },
      extra: [],
    }
  },
  aggKeys: () => [],
  aggKeysOfRecord: () => [],
}
