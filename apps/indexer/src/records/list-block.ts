import { simpleModule } from './simple.js'
import { str } from './util.js'

/** app.bsky.graph.listblock → `list_block` (one per creator and list); no aggregates. */
export const listBlock = simpleModule({
  collection: 'app.bsky.graph.listblock',
  table: 'list_block',
  columns: ['subjectUri'],
  uniqueGroup: ['creator', 'subjectUri'],
  row(_ref, record) {
    const subjectUri = str(record.subject)
    return subjectUri === null ? null : { subjectUri }
  },
})
