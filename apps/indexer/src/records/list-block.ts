import type { RecordModule } from './types.js'
import { tableSpec } from './tables.js'
import { normalizeDatetime, str } from './util.js'

/** app.bsky.graph.listblock → `list_block` (one per creator and list); no aggregates. */
export const listBlock: RecordModule = {
  collection: 'app.bsky.graph.listblock',
  lexiconId: 'app.bsky.graph.listblock',
  main: tableSpec('list_block', 'uri', 'uri,cid,creator,subjectUri,createdAt,indexedAt'),
  extra: [],
  uniqueGroup: ['creator', 'subjectUri'],
  toRows(ref, record) {
    const subject = str(record.subject)
    if (subject === null) return null
    return {
      main: {
        uri: ref.uri,
        cid: ref.cid,
        creator: ref.did,
        subjectUri: subject,
        createdAt: normalizeDatetime(record.createdAt),
        indexedAt: ref.indexedAt,
      },
      extra: [],
    }
  },
  aggKeys: () => [],
  aggKeysOfRecord: () => [],
}
