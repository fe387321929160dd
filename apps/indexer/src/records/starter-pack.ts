import { simpleModule } from './simple.js'
import { str } from './util.js'

/** app.bsky.graph.starterpack → `starter_pack`; no aggregates. */
export const starterPack = simpleModule({
  collection: 'app.bsky.graph.starterpack',
  table: 'starter_pack',
  columns: ['name'],
  row: (_ref, record) => ({ name: str(record.name) }),
})
