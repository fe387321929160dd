import { simpleModule } from './simple.js'
import { blobCid, str } from './util.js'

/** app.bsky.feed.generator → `feed_generator`; its likes are counted like a post's. */
export const feedGenerator = simpleModule({
  collection: 'app.bsky.feed.generator',
  table: 'feed_generator',
  columns: ['feedDid', 'displayName', 'description', 'descriptionFacets', 'avatarCid'],
  row: (_ref, record) => ({
    feedDid: str(record.did) ?? '',
    displayName: str(record.displayName),
    description: str(record.description),
    descriptionFacets: record.descriptionFacets === undefined ? null : JSON.stringify(record.descriptionFacets),
    avatarCid: blobCid(record.avatar),
  }),
})
