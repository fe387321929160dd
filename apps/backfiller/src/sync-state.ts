/**
 * After a repo is backfilled: its sync state (shared with the ingesters, `SyncStateStore`) becomes
 * the snapshot's `(rev, data CID)`, status active, so that live commits chaining onto it apply
 * again; commits at or before the snapshot's rev are then refused by the ingesters as
 * `rev-not-newer`. A state already active at a rev at or past the snapshot's (live commits
 * verified since) is left alone. Compare-and-set: an ingester moving the state meanwhile wins,
 * and this is tried again against what it wrote.
 * A desynchronized state carries the rev of the newest commit the ingesters dropped meanwhile
 * (apps/ingester/src/verify/commit-gate.ts): a snapshot older than it misses that commit, so the
 * resync is not over (`SnapshotBehindError`: the job is tried again, and fetches a newer one).
 */
import type { Counter, Logger } from '@firehose/service'
import type { RepoSyncState, SyncStateStore } from '@firehose/streams'

const B32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** A `b`-prefixed base32 CID string → its bytes (undefined when it is not one). */
export const cidStringToBytes = (cid: string): Uint8Array | undefined => {
  if (!cid.startsWith('b')) return undefined
  const out: number[] = []
  let acc = 0
  let bits = 0
  for (let i = 1; i < cid.length; i++) {
    const v = B32.indexOf(cid[i]!)
    if (v < 0) return undefined
    acc = ((acc << 5) | v) & 0xffff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out.push((acc >> bits) & 0xff)
    }
  }
  return Uint8Array.from(out)
}

/** The snapshot is older than a commit dropped while the repo was desynchronized. */
export class SnapshotBehindError extends Error {
  constructor(did: string, rev: string, dropped: string) {
    super(`snapshot of ${did} at rev ${rev} is older than commit ${dropped}, dropped while the repo was desynchronized: fetching it again`)
    this.name = 'SnapshotBehindError'
  }
}

export interface ResyncCompletion {
  store: SyncStateStore
  /** backfiller_resyncs_completed_total: a repo that was not active (a resync) is active again */
  completed: Counter
  logger: Logger
}

/** Returns what happened: `resynced` (was desynchronized / unknown), `set`, `kept` (live ahead). */
export async function completeRepoSync(
  c: ResyncCompletion,
  did: string,
  rev: string,
  dataCid: string | undefined,
): Promise<'resynced' | 'set' | 'kept' | 'no-data'> {
  const data = dataCid === undefined ? undefined : cidStringToBytes(dataCid)
  if (data === undefined) return 'no-data'
  let current = await c.store.get(did)
  for (let round = 0; round < 5; round++) {
    if (current?.status === 'active' && current.rev !== null && current.rev >= rev) return 'kept'
    if (current !== null && current.status !== 'active' && current.rev !== null && current.rev > rev) {
      throw new SnapshotBehindError(did, rev, current.rev)
    }
    const next: RepoSyncState = { status: 'active', rev, data }
    const cas = await c.store.compareAndSet(did, current, next)
    if (cas.ok) {
      if (current !== null && current.status !== 'active') {
        c.completed.inc()
        c.logger.info({ did, rev }, 'resync completed: repo active again')
        return 'resynced'
      }
      return 'set'
    }
    current = cas.current
  }
  c.logger.warn({ did, rev }, 'sync state kept changing; left to the ingesters')
  return 'kept'
}
