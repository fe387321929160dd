import { simpleModule } from './simple.js'
import { blobCid, str } from './util.js'

/** app.bsky.graph.list → `list` (curation and moderation lists); no aggregates. */
export const list = simpleModule({
  collection: 'app.bsky.graph.list',
  table: 'list',
  columns: ['name', 'purpose', 'description', 'descriptionFacets', 'avatarCid'],
  row: (_ref, record) => ({
    name: str(record.name) ?? '',
    purpose: str(record.purpose) ?? '',
    description: str(record.description),
    descriptionFacets: record.descriptionFacets === undefined ? null : JSON.stringify(record.descriptionFacets),
    avatarCid: blobCid(record.avatar),
  }),
})
