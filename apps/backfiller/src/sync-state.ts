/**
 * After a repo is backfilled: its sync state (shared with the ingesters, `SyncStateStore`) becomes
 * the snapshot's `(rev, data CID)`, status active, so that live commits chaining onto it apply
 * again; commits at or before the snapshot's rev are then refused by the ingesters as
 * `rev-not-newer`. A state already active at a rev at or past the snapshot's (live commits
 * verified since) is left alone. Compare-and-set: an ingester moving the state meanwhile wins,
 * and this is tried again against what it wrote.
 * A desynchronized state carries the rev of the newest commit the ingesters saw meanwhile
 * (apps/ingester/src/verify/commit-gate.ts). Those that verified on their own and chain onto
 * each other were written, as a run (`RepoSyncState.run`): a snapshot that reaches the run's
 * start (its rev, or exactly the data the run's first commit applies to) misses nothing, and the
 * repo is active again at the run's end, however busy it is. A snapshot older than the newest
 * commit and short of the run misses commits that were dropped, so the resync is not over
 * (`SnapshotBehindError`: the job is tried again, and fetches a newer one).
 */
import { sameBytes } from '@firehose/atproto'
import type { Counter, Logger } from '@firehose/service'
import { KEEP_CLAIM, type RepoSyncState, type SyncStateStore } from '@firehose/streams'

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
    let next: RepoSyncState = { status: 'active', rev, data }
    let claim: typeof KEEP_CLAIM | undefined
    if (current !== null && current.status !== 'active' && current.rev !== null && current.rev > rev) {
      // commits newer than the snapshot: complete at the run's end when the snapshot reaches
      // the run's start (every commit after the snapshot is then one of the run's, written)
      const run = current.run
      const reaches = run && current.data !== null && (rev >= run.rev || sameBytes(data, run.prevData))
      if (!reaches || current.data === null) throw new SnapshotBehindError(did, rev, current.rev)
      next = { status: 'active', rev: current.rev, data: current.data }
      // the run's last commit may not be confirmed written yet: its claim stays
      claim = KEEP_CLAIM
    }
    const cas = await c.store.compareAndSet(did, current, next, claim)
    if (cas.ok) {
      if (current !== null && current.status !== 'active') {
        c.completed.inc()
        c.logger.info(
          { did, rev: next.rev, ...(next.rev !== rev ? { snapshotRev: rev, runFrom: current.run?.rev } : {}) },
          next.rev === rev
            ? 'resync completed: repo active again'
            : 'resync completed at the end of the commits written meanwhile: repo active again',
        )
        return 'resynced'
      }
      return 'set'
    }
    current = cas.current
  }
  c.logger.warn({ did, rev }, 'sync state kept changing; left to the ingesters')
  return 'kept'
}
