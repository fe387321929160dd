import { simpleModule } from './simple.js'

/** app.bsky.labeler.service → `labeler`, only for rkey `self` (as bsky). */
export const labeler = simpleModule({
  collection: 'app.bsky.labeler.service',
  table: 'labeler',
  columns: [],
  row: (ref) => (ref.rkey === 'self' ? {} : null),
})
