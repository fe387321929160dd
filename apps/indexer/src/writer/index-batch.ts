import { sql } from 'kysely'
import type { StreamEvent } from '@firehose/streams'
import type { Logger } from '@firehose/service'
import type { Database } from '../db/database.js'
import { ensureWriterFunctions, STATEMENT_FUNCTIONS } from '../db/migrator.js'
import { isMissingStatementFunction } from '../db/statement-functions.js'
import { collectionLabel, type IndexerMetrics } from '../metrics.js'
import { HANDLE_PENDING, trustingHandleVerifier, type HandleAnswer, type HandleCheck, type HandleVerifier } from './handles.js'
import { prepareEvents, type Prepared } from './prepare.js'
import { writeBatch, type EventOutcome } from './write-batch.js'
import { addActorsAndSync } from './actors.js'
import { CombinedStatement } from './sql.js'
import { gateOf } from './key-gate.js'
import { slotsOf } from './write-slots.js'

export type { EventOutcome, OutcomeStatus } from './write-batch.js'

export interface IndexBatchOptions {
  /** Verifies the handles of identity events (default: trusts them). */
  verifier?: HandleVerifier
  metrics?: IndexerMetrics
  /** Attempts of the whole batch on deadlock / serialization failure before isolating. */
  retries?: number
  /** `SET LOCAL statement_timeout` for each write transaction (pgbouncer-safe); none by default. */
  statementTimeoutMs?: number
  /** Where refused entries and replaced text are reported. */
  logger?: Logger
  /** Write bsky's `notification` rows (INDEXER_NOTIFICATIONS); default true. */
  notifications?: boolean
  /** Bulk mode (INDEXER_MODE=bulk): derived state deferred while a bulk load is open (src/bulk/). */
  bulk?: boolean
}

export interface BatchResult {
  /** One outcome per input event, in input order. */
  outcomes: EventOutcome[]
  /** Indexes of the events that failed (their outcome holds the error). */
  failed: number[]
  /** True when Postgres refused the batch transaction and it was bisected (writePrepared). */
  isolated: boolean
  /** Identities written with their handle left to check (a verifier with `peek`): hand them to the HandleChecker. */
  handleChecks: HandleCheck[]
}

export class BatchWriteError extends Error {
  override name = 'BatchWriteError'
  constructor(
    message: string,
    readonly eventIndex: number,
    override readonly cause: unknown,
  ) {
    super(message)
  }
}

const RETRYABLE = new Set(['40P01', '40001'])
const sqlState = (err: unknown): string | undefined => {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}
const isRetryable = (err: unknown): boolean => RETRYABLE.has(sqlState(err) ?? '')
/**
 * Whether a failed batch is worth retrying entry by entry: only when Postgres rejected
 * something in it. A lost connection, an unreachable server or a server-side resource problem
 * (SQLSTATE classes 08, 53, 57, 58) would fail every entry alike.
 */
export const isDataError = (err: unknown): boolean => {
  const code = sqlState(err)
  return code !== undefined && !['08', '53', '57', '58'].includes(code.slice(0, 2))
}

async function inTransaction(
  database: Database,
  prepared: readonly Prepared[],
  handles: ReadonlyMap<number, HandleAnswer>,
  metrics: IndexerMetrics | undefined,
  statementTimeoutMs: number | undefined,
  checks: HandleCheck[],
  opts: Pick<IndexBatchOptions, 'notifications' | 'bulk'>,
): Promise<Map<number, EventOutcome>> {
  const end = metrics?.transactionDuration.startTimer()
  try {
    const { outcomes, stats, actors, handleChecks, deferred } = await database.db.transaction().execute(async (trx) => {
      if (statementTimeoutMs !== undefined) {
        await sql`SELECT set_config('statement_timeout', ${String(Math.max(0, Math.floor(statementTimeoutMs)))}, true)`.execute(trx)
      }
      return writeBatch(trx, prepared, handles, { notifications: opts.notifications, bulk: opts.bulk })
    })
    // Idempotent and commutative: when this fails the batch is retried (nothing acked yet).
    const after = new CombinedStatement()
    addActorsAndSync(after, actors.firstSeen, actors.sync)
    await after.run(database.db)
    metrics?.aggregateRecounts.inc(stats.aggregateKeys)
    metrics?.recordsReconciled.inc(stats.reconciled)
    if (deferred) metrics?.deferredBatches.inc()
    checks.push(...handleChecks)
    return outcomes
  } finally {
    end?.()
  }
}

const indexOf = (p: Prepared): number => (p.kind === 'record' ? p.op.index : p.index)

const describe = (p: Prepared): string => (p.kind === 'record' ? p.op.uri : p.kind === 'other' ? `${p.event.type} ${p.event.did}` : p.kind)

/**
 * Write prepared events in one transaction, retrying deadlocks. When Postgres refuses the
 * transaction (a data error), the events are bisected: each half is written in its own
 * transaction, and so on down to the refused entries, so that one refused entry among n costs
 * about 2·log2(n) transactions (19 for 500) instead of n. Sets `outcomes`; returns whether the
 * entries were isolated.
 */
async function writePrepared(
  database: Database,
  prepared: readonly Prepared[],
  handles: ReadonlyMap<number, HandleAnswer>,
  outcomes: EventOutcome[],
  checks: HandleCheck[],
  opts: IndexBatchOptions,
  depth = 0,
): Promise<boolean> {
  const metrics = opts.metrics
  let attempts = Math.max(1, (opts.retries ?? 2) + 1)
  let recreated = false
  for (;;) {
    try {
      const res = await inTransaction(database, prepared, handles, metrics, opts.statementTimeoutMs, checks, opts)
      for (const [i, o] of res) outcomes[i] = o
      return false
    } catch (err) {
      if (isRetryable(err) && --attempts > 0) continue
      if (!recreated && isMissingStatementFunction(err, STATEMENT_FUNCTIONS)) {
        // not the entries' fault: create them and write the batch again (a failure to create
        // them, say for lack of privilege, fails the batch unacked as a lost connection would)
        recreated = true
        let created: string[]
        try {
          created = await ensureWriterFunctions(database)
        } catch (e) {
          throw new Error(`this build's statement functions are missing and could not be created: ${(e as Error).message}`)
        }
        opts.logger?.warn({ created }, "this build's statement functions were missing: created (run the migrations of each new build)")
        continue
      }
      const fail = (p: Prepared) => {
        const index = indexOf(p)
        outcomes[index] = { status: 'failed', error: new BatchWriteError((err as Error).message, index, err) }
      }
      if (!isDataError(err)) {
        prepared.forEach(fail)
        return false
      }
      const only = prepared.length === 1 ? prepared[0] : undefined
      if (only) {
        fail(only)
        const sqlstate = sqlState(err) ?? 'unknown'
        metrics?.entriesRefused.inc({ sqlstate })
        opts.logger?.warn(
          { entry: describe(only), sqlstate, err: (err as Error).message },
          'Postgres refused an entry: it is retried, then dead-lettered',
        )
        return depth > 0
      }
      if (depth === 0) metrics?.batchIsolations.inc()
      const mid = Math.ceil(prepared.length / 2)
      await writePrepared(database, prepared.slice(0, mid), handles, outcomes, checks, opts, depth + 1)
      await writePrepared(database, prepared.slice(mid), handles, outcomes, checks, opts, depth + 1)
      return true
    }
  }
}

/**
 * Index a batch of stream events in ONE transaction (multi-row statements per table). When
 * Postgres rejects that transaction (after retrying deadlocks), every entry is retried alone
 * so one bad entry cannot block the others; the result says which failed and why. When the
 * database itself is unreachable every entry comes back `failed` at once (no per-entry
 * retries), so the caller can wait and redeliver. Never throws.
 */
export async function indexBatch(database: Database, events: readonly StreamEvent[], opts: IndexBatchOptions = {}): Promise<BatchResult> {
  const metrics = opts.metrics
  const endBatch = metrics?.batchDuration.startTimer()
  metrics?.batchSize.observe(events.length)
  const prepared = prepareEvents(events)
  reportUnstorable(prepared, metrics, opts.logger)
  const handles = new Map<number, HandleAnswer>()
  const verifier = opts.verifier ?? trustingHandleVerifier
  for (const p of prepared) {
    if (p.kind === 'other' && p.event.type === 'identity') {
      if (verifier.peek) {
        // never wait for the network here: the answer known now, or a check in the background
        const known = verifier.peek(p.event.did, p.event.handle)
        handles.set(p.index, known ? known.value : HANDLE_PENDING)
        continue
      }
      try {
        handles.set(p.index, await verifier.verify(p.event.did, p.event.handle))
      } catch {
        handles.set(p.index, undefined)
      }
    }
  }
  const outcomes: EventOutcome[] = events.map(() => ({ status: 'failed' }))
  const handleChecks: HandleCheck[] = []
  let isolated = false
  const gate = gateOf(database)
  // At most two rounds: the ops kept back go once the batches that blocked them are done. The
  // gate is consulted once the batch has its write slot, so that it holds keys only while its
  // transaction can run (a batch queued for a slot blocks nothing).
  let pending: readonly Prepared[] = prepared
  for (let keepBack = true; pending.length > 0; keepBack = false) {
    const round = pending
    const { later, blockers } = await slotsOf(database).run(async () => {
      const { now, later, keys, blockers } = gate.split(round, keepBack, opts.bulk !== true)
      try {
        if (now.length > 0 && (await writePrepared(database, now, handles, outcomes, handleChecks, opts))) isolated = true
      } finally {
        gate.release(keys)
      }
      return { later, blockers }
    })
    if (later.length > 0) await gate.waitFor(blockers)
    pending = later
  }
  if (metrics) countOutcomes(metrics, events, outcomes)
  endBatch?.()
  return { outcomes, failed: outcomes.flatMap((o, i) => (o.status === 'failed' ? [i] : [])), isolated, handleChecks }
}

/** Count (and log, one line per batch) the text Postgres cannot store that prepare handled. */
function reportUnstorable(prepared: readonly Prepared[], metrics: IndexerMetrics | undefined, logger: Logger | undefined): void {
  const seen: string[] = []
  for (const p of prepared) {
    if (p.kind === 'record' && p.op.repaired) {
      for (const reason of p.op.repaired) metrics?.unstorableText.inc({ action: 'replaced', reason })
      seen.push(p.op.uri)
    } else if (p.kind === 'invalid' && p.unstorable) {
      metrics?.unstorableText.inc({ action: 'refused', reason: 'identifier' })
      seen.push(`${p.collection} (refused)`)
    }
  }
  if (seen.length)
    logger?.warn(
      { count: seen.length, entries: seen.slice(0, 5) },
      'text Postgres cannot store: replaced by U+FFFD in records, events with such identifiers refused',
    )
}

function countOutcomes(metrics: IndexerMetrics, events: readonly StreamEvent[], outcomes: readonly EventOutcome[]): void {
  events.forEach((e, i) => {
    const o = outcomes[i]
    if (!o) return
    const type =
      typeof e.type === 'string' && ['create', 'update', 'delete', 'repo', 'account', 'identity'].includes(e.type) ? e.type : 'unknown'
    metrics.eventsIndexed.inc({ type, outcome: o.status })
    if (e.type !== 'create' && e.type !== 'update' && e.type !== 'delete') return
    const collection = collectionLabel(e.collection)
    if (o.status === 'applied') metrics.recordsWritten.inc({ collection, op: e.type })
    else if (o.status === 'stale') metrics.staleWrites.inc({ collection })
    else if (o.status === 'unchanged') metrics.unchangedWrites.inc({ collection })
    else if (o.status === 'invalid') metrics.invalidRecords.inc({ collection })
  })
}
