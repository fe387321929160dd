import type { HandleAnswer, HandleCheck } from './handles.js'
import { isWrite, type Prepared } from './prepare.js'
import type { Tx } from './sql.js'
import { enableCounterDeltas } from './aggregates.js'
import { sql } from 'kysely'
import { applyAccountEvents, findStaleAccountEvents } from './phases/accounts.js'
import { collectActorWrites } from './phases/actor-writes.js'
import { flagsOfStored, updateFlags } from './phases/flags.js'
import { lockLateAncestors, lockNewVersions, lockStoredGroups } from './phases/group-locks.js'
import { applyIdentityEvents } from './phases/identities.js'
import { notify, notifyStored } from './phases/notify.js'
import { planRows, removeOldRows } from './phases/old-rows.js'
import { finishReconcile, recount } from './phases/recount.js'
import { dropWritesBeyondHorizon, gateWinners, settleLosers } from './phases/rev-gate.js'
import {
  newBatchState,
  type ActorWrites,
  type AppliedWrite,
  type BatchState,
  type EventOutcome,
  type WriteOptions,
  type WriteStats,
} from './phases/state.js'
import { readStoredVersions } from './phases/stored-versions.js'
import { writeRows } from './phases/write-rows.js'

export type { ActorWrites, EventOutcome, OutcomeStatus, WriteOptions, WriteStats } from './phases/state.js'

/*
 * THE INVARIANT (every other module relies on it): the tables are a function of the SET of
 * events applied, not of their order, batching or repetition.
 *  - For each uri the winning version is the greatest event by `compareOps` (rev, then delete
 *    over write, then cid). A write applies only when it is >= the stored version (`record.rev`,
 *    `record.cid`) and newer than the uri's tombstone; a delete applies when its rev is >= the
 *    stored rev, removes the record and upserts a tombstone carrying its rev, so a late, older
 *    create cannot bring the record back. Within a batch the events of one uri are first
 *    reduced to their winner with the same order.
 *  - Derived rows (post, like, feed_item, …) are rebuilt from the winning version; in groups
 *    bsky keeps unique (one like per creator and subject) the lowest uri is kept.
 *  - Aggregates are brought up to date once per touched key per batch: the counters kept by
 *    delta move by the base rows the transaction actually added and removed (recorded by
 *    triggers: a replay or reordering adds and removes none), the others are recounted from
 *    the base tables; the keys touched include those of stale writes, so whether a write won
 *    does not change which aggregate rows exist.
 *  - `actor_sync` only moves forward (greatest repoRev).
 * Concurrent batches lock the uris they write (advisory, transaction-scoped; their DIDs shared,
 * the DIDs of account and identity events exclusively) before reading stored versions, and
 * aggregate keys before recounting. `actor` / `actor_sync` rows (insert-if-missing, forward
 * only: commutative) are written right after the commit, so that batches of the same DIDs do
 * not queue behind each other's row locks on them for a whole transaction.
 */

/** One step of writing a batch: reads what the phases before it set in the state, adds its own. */
export type BatchPhase = (b: BatchState) => void | Promise<void>

/** The phases of writeBatch, in order (phases/*.ts). */
export const BATCH_PHASES: readonly BatchPhase[] = [
  lockNewVersions, // DIDs, uris, unique groups and reply pairs of the new versions; snapshot floors
  findStaleAccountEvents, // an account event older than the applied one is stale
  readStoredVersions, // same-batch winners; their stored versions, tombstones, deleted accounts
  gateWinners, // the rev gate: which winners apply
  dropWritesBeyondHorizon, // a possibly deleted record's late create is stale
  settleLosers, // the batch's other versions: unchanged or stale
  lockStoredGroups, // unique groups and reply pairs of the stored versions replaced
  planRows, // per record type: old rows to remove, new rows; the soft-delete plan
  removeOldRows, // derived rows of old versions, in one statement
  writeRows, // record, tombstones and every record type's rows in one statement; unique groups
  collectActorWrites, // actor / actor_sync rows for after the commit
  applyIdentityEvents, // handles
  applyAccountEvents, // account status; a deleted account's records
  updateFlags, // post gate flags and violations
  lockLateAncestors, // ancestors of replies stored since they were read before the locks
  notify, // notifications
  finishReconcile, // raised snapshot floors: tombstones below them go
  recount, // aggregates, last: every phase may add keys
]

/**
 * Write prepared events inside the caller's transaction. `handles` holds the verified handle of
 * each identity event (by event index), or HANDLE_PENDING when it is checked later. Returns the
 * outcome of every prepared event, and the handle checks to make once committed.
 */
export async function writeBatch(
  trx: Tx,
  prepared: readonly Prepared[],
  handles: ReadonlyMap<number, HandleAnswer>,
  opts: WriteOptions = {},
): Promise<{
  outcomes: Map<number, EventOutcome>
  stats: WriteStats
  actors: ActorWrites
  handleChecks: HandleCheck[]
  deferred: boolean
}> {
  const b = newBatchState(trx, prepared, handles, opts)
  b.deferred = await beginTransaction(trx, opts.bulk === true)
  for (const phase of BATCH_PHASES) await phase(b)
  return { outcomes: b.outcomes, stats: b.stats, actors: b.actors, handleChecks: b.handleChecks, deferred: b.deferred }
}

/**
 * The batch's first statement: counter deltas on; in bulk mode, whether a bulk load is open
 * (then the counters are deferred for the transaction: migration 0012). Returns whether derived
 * state is deferred.
 */
async function beginTransaction(trx: Tx, bulk: boolean): Promise<boolean> {
  if (!bulk) {
    await enableCounterDeltas(trx)
    return false
  }
  const r = await sql<{ deferred: boolean }>`SELECT indexer_bulk_batch_begin() AS deferred`.execute(trx)
  return r.rows[0]?.deferred === true
}

/** The stored version of each op is taken as just written: the derived phases run on it, nothing else. */
function storedAsWritten(b: BatchState): void {
  b.writes = b.winners.filter((w) => b.outcomes.get(w.index)?.status === 'unchanged' && isWrite(w)) as AppliedWrite[]
  b.deletes = []
}

/**
 * The phases of deriveStored: a batch's locks and version lookup, then what is derived from
 * other records (post flags, notifications) for the versions still stored; no row of the
 * records themselves is written. Counters are left to an absolute recount.
 */
const DERIVE_PHASES: readonly BatchPhase[] = [
  lockNewVersions,
  readStoredVersions,
  gateWinners,
  storedAsWritten,
  flagsOfStored,
  notifyStored,
]

/**
 * The bulk load's finish (src/bulk/finish.ts): `prepared` are `create`s of stored versions (their
 * uri, cid, rev and record as stored); each still stored as it was has its post flags and
 * notifications computed from what is stored, under the locks a batch writing it would take, so
 * that batches of live indexers running meanwhile and this converge. Others are skipped (the
 * batch that replaced or deleted them derived what it changed).
 */
export async function deriveStored(trx: Tx, prepared: readonly Prepared[], opts: WriteOptions = {}): Promise<void> {
  await enableCounterDeltas(trx)
  const b = newBatchState(trx, prepared, new Map(), opts)
  for (const phase of DERIVE_PHASES) await phase(b)
}
