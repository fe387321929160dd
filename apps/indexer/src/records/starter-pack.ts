import type { RecordModule } from './types.js'
import { tableSpec } from './tables.js'
import { normalizeDatetime, str } from './util.js'

/** app.bsky.graph.starterpack → `starter_pack`; no aggregates. */
export const starterPack: RecordModule = {
  collection: 'app.bsky.graph.starterpack',
  lexiconId: 'app.bsky.graph.starterpack',
  main: tableSpec('starter_pack', 'uri', 'uri,cid,creator,name,createdAt,indexedAt'),
  extra: [],
  toRows(ref, record) {
    return {
      main: {
        uri: ref.uri,
        cid: ref.cid,
        creator: ref.did,
        name: str(record.name),
        createdAt: normalizeDatetime(record.createdAt),
        indexedAt: ref.indexedAt,
      },
      extra: [],
    }
  },
  aggKeys: () => [],
  aggKeysOfRecord: () => [],
}
