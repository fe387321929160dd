import { updatePostFlags } from '../post-flags.js'
import { changedReplyPairs } from './group-locks.js'
import type { BatchState } from './state.js'

/**
 * Gate flags and violations of the posts whose inputs this batch changed; a reply whose
 * violation changed changes its parent's replyCount.
 */
export async function updateFlags(b: BatchState): Promise<void> {
  const pairs = changedReplyPairs([b.newGroups, b.storedKeys])
  for (const parent of await updatePostFlags(b.trx, b.ops, b.writes, pairs, b.violationChanged)) {
    b.aggs.push({ kind: 'replyCount', key: parent })
  }
}
