import { updatePostFlags } from '../post-flags.js'
import { changedReplyPairs } from './group-locks.js'
import type { BatchState } from './state.js'

/**
 * Gate flags and violations of the posts whose inputs this batch changed; a reply whose
 * violation changed changes its parent's replyCount.
 */
export async function updateFlags(b: BatchState): Promise<void> {
  if (b.deferred) return // (the bulk load's finish computes every post's)
  const pairs = changedReplyPairs([b.newGroups, b.storedKeys])
  for (const parent of await updatePostFlags(b.trx, b.ops, b.writes, pairs, b.violationChanged)) {
    b.aggs.push({ kind: 'replyCount', key: parent })
  }
}

/**
 * The bulk load's finish (writer/write-batch.ts `deriveStored`): the flags of stored posts as if
 * each had just been written (every post is, so the replies of follow and list pairs need no pass).
 */
export async function flagsOfStored(b: BatchState): Promise<void> {
  await updatePostFlags(b.trx, b.ops, b.writes, [], b.violationChanged)
}
