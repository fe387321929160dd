import { verification } from '../../records/verification.js'
import { updateNotifications, type NotificationInputs } from '../notifications.js'
import type { BatchState } from './state.js'

/**
 * Notifications (writer/notifications.ts), recomputed from what is now stored; unless turned off.
 * While a bulk load defers derived state, only those of verifications: an `unverified` row names
 * the version a delete removed, which only the delete's batch knows (the load's finish computes
 * every other row from what is stored).
 */
export async function notify(b: BatchState): Promise<void> {
  if (!b.notifications) return
  const input: NotificationInputs = {
    ops: b.ops,
    storedJson: b.storedJson,
    stored: b.stored,
    appliedWrites: b.writes,
    appliedDeletes: b.deletes,
    tombstones: b.tombstones,
    soft: b.soft,
    flagsChanged: b.violationChanged,
    loneInserts: b.loneInserts,
  }
  await updateNotifications(b.trx, b.deferred ? onlyVerifications(input) : input)
}

function onlyVerifications(input: NotificationInputs): NotificationInputs {
  const mine = <T extends { collection: string }>(ops: readonly T[]): T[] => ops.filter((o) => o.collection === verification.collection)
  return {
    ...input,
    ops: mine(input.ops),
    appliedWrites: mine(input.appliedWrites),
    appliedDeletes: mine(input.appliedDeletes),
    flagsChanged: [],
  }
}

/**
 * The bulk load's finish (writer/write-batch.ts `deriveStored`): the notifications of stored
 * records as if each had just been written.
 */
export async function notifyStored(b: BatchState): Promise<void> {
  if (!b.notifications) return
  await updateNotifications(b.trx, {
    ops: b.ops,
    storedJson: new Map(),
    stored: b.stored,
    appliedWrites: b.writes,
    appliedDeletes: [],
    tombstones: new Map(),
    soft: { tombVersion: new Map(), tombUpdates: new Map() },
    flagsChanged: [],
    loneInserts: new Map(),
  })
}
