import type { BatchState } from './state.js'

/**
 * What the batch writes to `actor` / `actor_sync` after its commit (addActorsAndSync): each
 * DID's first-seen time and its greatest commit rev, from its record ops and repo events.
 */
export function collectActorWrites(b: BatchState): void {
  const { firstSeen, sync } = b.actors
  for (const e of [...b.ops, ...b.repos]) {
    const seen = firstSeen.get(e.did)
    if (seen === undefined || e.time < seen) firstSeen.set(e.did, e.time)
    const cur = sync.get(e.did)
    if (!cur || e.rev > cur.rev) sync.set(e.did, { commit: e.commit, rev: e.rev })
  }
}
