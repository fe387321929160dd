import { simpleModule } from './simple.js'
import { str, uriDid } from './util.js'

/**
 * app.bsky.graph.listitem → `list_item` (one per list and subject). An item of another
 * account's list is refused, as bsky refuses it.
 */
export const listItem = simpleModule({
  collection: 'app.bsky.graph.listitem',
  table: 'list_item',
  columns: ['subjectDid', 'listUri'],
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
  row(_ref, record) {
    const subjectDid = str(record.subject)
    const listUri = str(record.list)
    return subjectDid === null || listUri === null ? null : { subjectDid, listUri }
  },
})
