import { simpleModule } from './simple.js'
import { str } from './util.js'

/**
 * app.bsky.graph.verification → `verification` (one per creator and subject). bsky also
 * notifies the subject; notifications are not written (DATABASE.md).
 */
export const verification = simpleModule({
  collection: 'app.bsky.graph.verification',
  table: 'verification',
  columns: ['rkey', 'subject', 'handle', 'displayName'],
  uniqueGroup: ['subject', 'creator'],
  row(ref, record) {
    const subject = str(record.subject)
    if (subject === null) return null
    return { rkey: ref.rkey, subject, handle: str(record.handle) ?? '', displayName: str(record.displayName) ?? '' }
  },
})
