import type { RecordModule } from './types.js'
import { tableSpec } from './tables.js'
import { blobCid, normalizeDatetime, str } from './util.js'

/** app.bsky.graph.list → `list` (curation and moderation lists); no aggregates. */
export const list: RecordModule = {
  collection: 'app.bsky.graph.list',
  lexiconId: 'app.bsky.graph.list',
  main: tableSpec('list', 'uri', 'uri,cid,creator,name,purpose,description,descriptionFacets,avatarCid,createdAt,indexedAt'),
  extra: [],
  toRows(ref, record) {
    return {
      main: {
        uri: ref.uri,
        cid: ref.cid,
        creator: ref.did,
        name: str(record.name) ?? '',
        purpose: str(record.purpose) ?? '',
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
