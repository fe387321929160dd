import type { AccountEvent, IdentityEvent, RecordWriteEvent, RepoEvent } from '@firehose/streams'
import type { AggKey, RecordModule, Row } from '../../records/index.js'
import type { ModuleRows } from '../derived.js'
import type { HandleAnswer, HandleCheck } from '../handles.js'
import type { Prepared, RecordOp } from '../prepare.js'
import type { SoftDeletePlan, StoredTombstone } from '../soft-delete.js'
import type { FloorPlan } from '../reconcile.js'
import type { Tx } from '../sql.js'

export type OutcomeStatus = 'applied' | 'unchanged' | 'stale' | 'invalid' | 'ignored' | 'failed'

export interface EventOutcome {
  status: OutcomeStatus
  /** Set for `invalid` and `failed`. */
  error?: Error
  /** A `stale` write older than the pruned tombstones (tombstones/horizon.ts). */
  beyondHorizon?: true
}

export interface WriteOptions {
  /** Write bsky's `notification` rows (writer/notifications.ts); default true. */
  notifications?: boolean
  /**
   * Bulk mode (INDEXER_MODE=bulk, src/bulk/): while a bulk load is open, what is derived from
   * other records (post flags, notifications, counters) is left to the load's finish.
   */
  bulk?: boolean
}

export interface WriteStats {
  aggregateKeys: number
  /** Records deleted because a re-backfill's snapshot no longer holds them (writer/reconcile.ts). */
  reconciled: number
}

/** What a batch writes to `actor` / `actor_sync` after its transaction (see addActorsAndSync). */
export interface ActorWrites {
  firstSeen: Map<string, string>
  sync: Map<string, { commit: string; rev: string }>
}

export type AppliedWrite = RecordOp & { event: RecordWriteEvent }

/** Per record type: the uris whose old rows go, the new rows, the rows removed. */
export interface ModuleSlot {
  uris: string[]
  rows: ModuleRows[]
  removed: Row[]
  /** the part of the insert statement that returns the inserted uris */
  part?: string
}

/**
 * What one batch knows, filled in phase by phase (write-batch.ts lists them in order): a
 * phase reads what the phases before it set.
 */
export interface BatchState {
  trx: Tx
  prepared: readonly Prepared[]
  /** The verified handle of each identity event (by event index), or HANDLE_PENDING. */
  handles: ReadonlyMap<number, HandleAnswer>
  notifications: boolean
  /** A bulk load is open and this batch is in bulk mode: derived state is left to its finish. */
  deferred: boolean
  outcomes: Map<number, EventOutcome>
  // ---- the events, by kind
  ops: RecordOp[]
  repos: RepoEvent[]
  accounts: AccountEvent[]
  identities: { index: number; event: IdentityEvent }[]
  /** Snapshot floors (writer/reconcile.ts): stale ops below them, floors raised, deletes added. */
  floors: FloorPlan
  // ---- locks: where the chains above the batch's replies stopped short when read before the
  // locks (a parent or an ancestor not stored yet), and the ancestors read then (group-locks.ts);
  // unique groups and reply pairs of the new / stored versions
  absentAncestors: string[]
  ancestorsLocked: Set<string>
  newGroups: Map<string, boolean>
  storedKeys: Map<string, boolean>
  /** The last account event of each DID, if it is newer than the one applied. */
  lastAccount: Map<string, AccountEvent>
  // ---- the stored versions (stored-versions.ts)
  winners: RecordOp[]
  losers: RecordOp[]
  stored: Map<string, { cid: string; rev: string | null }>
  storedJson: Map<string, string>
  tombstones: Map<string, StoredTombstone>
  /** DIDs of deleted accounts (their writes are skipped). */
  deleted: Set<string>
  /** the newest pruned tombstone's time */
  horizon: string | null
  // ---- the rev gate's verdict (rev-gate.ts)
  writes: AppliedWrite[]
  deletes: RecordOp[]
  // ---- rows
  /** set by old-rows.ts */
  soft: SoftDeletePlan
  byModule: Map<RecordModule, ModuleSlot>
  /** Aggregate counters to recount. */
  aggs: AggKey[]
  /** Posts whose violation changed (post flags), for notifications. */
  violationChanged: string[]
  /**
   * Main rows inserted into a unique group (like, repost, follow, …) that had no row and gets
   * no other member in this batch (nothing of it removed, no other new version): each the
   * kept row of its group, with no duplicate. By uri (write-rows.ts).
   */
  loneInserts: Map<string, Row>
  actors: ActorWrites
  handleChecks: HandleCheck[]
  stats: WriteStats
}

/** A batch's state with its prepared events sorted by kind; invalid and ignored ones have their outcome. */
export function newBatchState(
  trx: Tx,
  prepared: readonly Prepared[],
  handles: ReadonlyMap<number, HandleAnswer>,
  opts: WriteOptions,
): BatchState {
  const b: BatchState = {
    trx,
    prepared,
    handles,
    notifications: opts.notifications ?? true,
    deferred: false,
    outcomes: new Map(),
    ops: [],
    repos: [],
    accounts: [],
    identities: [],
    floors: { stale: [], raised: new Map(), synthesized: new Set() },
    absentAncestors: [],
    ancestorsLocked: new Set(),
    newGroups: new Map(),
    storedKeys: new Map(),
    lastAccount: new Map(),
    winners: [],
    losers: [],
    stored: new Map(),
    storedJson: new Map(),
    tombstones: new Map(),
    deleted: new Set(),
    horizon: null,
    writes: [],
    deletes: [],
    soft: { mark: new Map(), replace: new Set(), rows: new Map(), tombVersion: new Map(), tombUpdates: new Map() },
    byModule: new Map(),
    aggs: [],
    violationChanged: [],
    loneInserts: new Map(),
    actors: { firstSeen: new Map(), sync: new Map() },
    handleChecks: [],
    stats: { aggregateKeys: 0, reconciled: 0 },
  }
  for (const p of prepared) {
    if (p.kind === 'record') b.ops.push(p.op)
    else if (p.kind === 'invalid') b.outcomes.set(p.index, { status: 'invalid', error: p.error })
    else if (p.kind === 'ignored') b.outcomes.set(p.index, { status: 'ignored' })
    else {
      b.outcomes.set(p.index, { status: 'applied' })
      if (p.event.type === 'repo') b.repos.push(p.event)
      else if (p.event.type === 'account') b.accounts.push(p.event)
      else if (p.event.type === 'identity') b.identities.push({ index: p.index, event: p.event })
    }
  }
  b.aggs = b.ops.flatMap((o) => o.aggKeys)
  return b
}
