import { updateNotifications } from '../notifications.js'
import type { BatchState } from './state.js'

/** Notifications (writer/notifications.ts), recomputed from what is now stored; unless turned off. */
export async function notify(b: BatchState): Promise<void> {
  if (!b.notifications) return
  await updateNotifications(b.trx, {
    ops: b.ops,
    storedJson: b.storedJson,
    stored: b.stored,
    appliedWrites: b.writes,
    appliedDeletes: b.deletes,
    tombstones: b.tombstones,
    soft: b.soft,
    flagsChanged: b.violationChanged,
    loneInserts: b.loneInserts,
  })
}
