import { simpleModule } from './simple.js'
import type { RecordModule } from './types.js'
import { str } from './util.js'

/**
 * app.bsky.graph.verification → `verification` (one per creator and subject). The subject is
 * notified (`verified`, and `unverified` once deleted: writer/notifications.ts).
 */
export const verification: RecordModule = {
  ...simpleModule({
    collection: 'app.bsky.graph.verification',
    table: 'verification',
    columns: ['rkey', 'subject', 'handle', 'displayName'],
    uniqueGroup: ['subject', 'creator'],
    row(ref, record) {
      const subject = str(record.subject)
      if (subject === null) return null
      return { rkey: ref.rkey, subject, handle: str(record.handle) ?? '', displayName: str(record.displayName) ?? '' }
    },
  }),
  keepsDeletedVersion: true,
}
