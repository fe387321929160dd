import { sql } from 'kysely'
import type { StreamEvent } from '@firehose/streams'
import type { Database } from '../db/database.js'
import { collectionLabel, type IndexerMetrics } from '../metrics.js'
import { trustingHandleVerifier, type HandleVerifier } from './handles.js'
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
}

export interface BatchResult {
  /** One outcome per input event, in input order. */
  outcomes: EventOutcome[]
  /** Indexes of the events that failed (their outcome holds the error). */
  failed: number[]
  /** True when the batch transaction failed and entries were retried one by one. */
  isolated: boolean
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
const isDataError = (err: unknown): boolean => {
  const code = sqlState(err)
  return code !== undefined && !['08', '53', '57', '58'].includes(code.slice(0, 2))
}

async function inTransaction(
  database: Database,
  prepared: readonly Prepared[],
  handles: ReadonlyMap<number, string | null | undefined>,
  metrics: IndexerMetrics | undefined,
  statementTimeoutMs: number | undefined,
): Promise<Map<number, EventOutcome>> {
  const end = metrics?.transactionDuration.startTimer()
  try {
    const { outcomes, stats, actors } = await database.db.transaction().execute(async (trx) => {
      if (statementTimeoutMs !== undefined) {
        await sql`SELECT set_config('statement_timeout', ${String(Math.max(0, Math.floor(statementTimeoutMs)))}, true)`.execute(trx)
      }
      return writeBatch(trx, prepared, handles)
    })
    // Idempotent and commutative: when this fails the batch is retried (nothing acked yet).
    const after = new CombinedStatement()
    addActorsAndSync(after, actors.firstSeen, actors.sync)
    await after.run(database.db)
    metrics?.aggregateRecounts.inc(stats.aggregateKeys)
    return outcomes
  } finally {
    end?.()
  }
}

const indexOf = (p: Prepared): number => (p.kind === 'record' ? p.op.index : p.index)

/**
 * Write prepared events in one transaction, retrying deadlocks; when Postgres rejects it,
 * entry by entry. Sets `outcomes`; returns whether the entries were isolated.
 */
async function writePrepared(
  database: Database,
  prepared: readonly Prepared[],
  handles: ReadonlyMap<number, string | null | undefined>,
  outcomes: EventOutcome[],
  opts: IndexBatchOptions,
): Promise<boolean> {
  const metrics = opts.metrics
  let attempts = Math.max(1, (opts.retries ?? 2) + 1)
  for (;;) {
    try {
      const res = await inTransaction(database, prepared, handles, metrics, opts.statementTimeoutMs)
      for (const [i, o] of res) outcomes[i] = o
      return false
    } catch (err) {
      if (isRetryable(err) && --attempts > 0) continue
      const only = prepared.length === 1 ? prepared[0] : undefined
      if (only) {
        const index = indexOf(only)
        outcomes[index] = { status: 'failed', error: new BatchWriteError((err as Error).message, index, err) }
        return false
      }
      if (!isDataError(err)) {
        for (const p of prepared) {
          const index = indexOf(p)
          outcomes[index] = { status: 'failed', error: new BatchWriteError((err as Error).message, index, err) }
        }
        return false
      }
      metrics?.batchIsolations.inc()
      for (const p of prepared) {
        const index = indexOf(p)
        try {
          const res = await inTransaction(database, [p], handles, metrics, opts.statementTimeoutMs)
          for (const [i, o] of res) outcomes[i] = o
        } catch (e) {
          outcomes[index] = { status: 'failed', error: new BatchWriteError((e as Error).message, index, e) }
        }
      }
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
export async function indexBatch(
  database: Database,
  events: readonly StreamEvent[],
  opts: IndexBatchOptions = {},
): Promise<BatchResult> {
  const metrics = opts.metrics
  const endBatch = metrics?.batchDuration.startTimer()
  metrics?.batchSize.observe(events.length)
  const prepared = prepareEvents(events)
  const handles = new Map<number, string | null | undefined>()
  const verifier = opts.verifier ?? trustingHandleVerifier
  for (const p of prepared) {
    if (p.kind === 'other' && p.event.type === 'identity') {
      try {
        handles.set(p.index, await verifier.verify(p.event.did, p.event.handle))
      } catch {
        handles.set(p.index, undefined)
      }
    }
  }
  const outcomes: EventOutcome[] = events.map(() => ({ status: 'failed' }))
  let isolated = false
  const gate = gateOf(database)
  let pending: readonly Prepared[] = prepared
  while (pending.length > 0) {
    const { now, later, keys } = gate.split(pending)
    try {
      if (now.length > 0 && (await slotsOf(database).run(() => writePrepared(database, now, handles, outcomes, opts)))) isolated = true
    } finally {
      gate.release(keys)
    }
    if (later.length > 0) await gate.waitFree(later)
    pending = later
  }
  if (metrics) record(metrics, events, outcomes)
  endBatch?.()
  return { outcomes, failed: outcomes.flatMap((o, i) => (o.status === 'failed' ? [i] : [])), isolated }
}

function record(metrics: IndexerMetrics, events: readonly StreamEvent[], outcomes: readonly EventOutcome[]): void {
  events.forEach((e, i) => {
    const o = outcomes[i]
    if (!o) return
    const type = typeof e.type === 'string' && ['create', 'update', 'delete', 'repo', 'account', 'identity'].includes(e.type) ? e.type : 'unknown'
    metrics.eventsIndexed.inc({ type, outcome: o.status })
    if (e.type !== 'create' && e.type !== 'update' && e.type !== 'delete') return
    const collection = collectionLabel(e.collection)
    if (o.status === 'applied') metrics.recordsWritten.inc({ collection, op: e.type })
    else if (o.status === 'stale') metrics.staleWrites.inc({ collection })
    else if (o.status === 'unchanged') metrics.unchangedWrites.inc({ collection })
    else if (o.status === 'invalid') metrics.invalidRecords.inc({ collection })
  })
}
