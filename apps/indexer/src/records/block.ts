import type { RecordModule } from './types.js'
import { graphColumns, tableSpec } from './tables.js'
import { normalizeDatetime } from './util.js'

/** app.bsky.graph.block → `actor_block` (one per creator and subject); no aggregates. */
export const block: RecordModule = {
  collection: 'app.bsky.graph.block',
  lexiconId: 'app.bsky.graph.block',
  main: tableSpec('actor_block', 'uri', graphColumns),
  extra: [],
  uniqueGroup: ['creator', 'subjectDid'],
  toRows(ref, record) {
    if (typeof record.subject !== 'string') return null
    return {
      main: {
        uri: ref.uri,
        cid: ref.cid,
        creator: ref.did,
        subjectDid: record.subject,
        createdAt: normalizeDatetime(record.createdAt),
        indexedAt: ref.indexedAt,
      },
      extra: [],
    }
  },
  aggKeys: () => [],
  aggKeysOfRecord: () => [],
}
