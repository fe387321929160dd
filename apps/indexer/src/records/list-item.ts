import type { RecordModule } from './types.js'
import { tableSpec } from './tables.js'
import { normalizeDatetime, str, uriDid } from './util.js'

/**
 * app.bsky.graph.listitem → `list_item` (one per list and subject). An item of another
 * account's list is refused, as bsky refuses it.
 */
export const listItem: RecordModule = {
  collection: 'app.bsky.graph.listitem',
  lexiconId: 'app.bsky.graph.listitem',
  main: tableSpec('list_item', 'uri', 'uri,cid,creator,subjectDid,listUri,createdAt,indexedAt'),
  extra: [],
  uniqueGroup: ['listUri', 'subjectDid'],
  // a thread gate's listRule: the list's owner (this record's creator) and its subject
  replyPairs: {
    exclusive: true,
    keys: (did, record) => (typeof record.subject === 'string' ? [`${did}|${record.subject}`] : []),
  },
  check(ref, record) {
    const listUri = str(record.list)
    return listUri !== null && uriDid(listUri) !== ref.did ? 'creator of listitem does not match creator of list' : null
  },
  toRows(ref, record) {
    const subject = str(record.subject)
    const listUri = str(record.list)
    if (subject === null || listUri === null) return null
    return {
      main: {
        uri: ref.uri,
        cid: ref.cid,
        creator: ref.did,
        subjectDid: subject,
        listUri,
        createdAt: normalizeDatetime(record.createdAt),
        indexedAt: ref.indexedAt,
      },
      extra: [],
    }
  },
  aggKeys: () => [],
  aggKeysOfRecord: () => [],
}
