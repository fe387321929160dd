import type { StreamEvent } from '@firehose/streams'
import type { Database } from '../db/database.js'
import { collectionLabel, type IndexerMetrics } from '../metrics.js'
import { trustingHandleVerifier, type HandleVerifier } from './handles.js'
import { prepareEvents, type Prepared } from './prepare.js'
import { writeBatch, type EventOutcome } from './write-batch.js'

export type { EventOutcome, OutcomeStatus } from './write-batch.js'

export interface IndexBatchOptions {
  /** Verifies the handles of identity events (default: trusts them). */
  verifier?: HandleVerifier
  metrics?: IndexerMetrics
  /** Attempts of the whole batch on deadlock / serialization failure before isolating. */
  retries?: number
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
const isRetryable = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && RETRYABLE.has(String((err as { code?: unknown }).code))

async function inTransaction(
  database: Database,
  prepared: readonly Prepared[],
  handles: ReadonlyMap<number, string | null | undefined>,
  metrics: IndexerMetrics | undefined,
): Promise<Map<number, EventOutcome>> {
  const end = metrics?.transactionDuration.startTimer()
  try {
    const { outcomes, stats } = await database.db.transaction().execute((trx) => writeBatch(trx, prepared, handles))
    metrics?.aggregateRecounts.inc(stats.aggregateKeys)
    return outcomes
  } finally {
    end?.()
  }
}

/**
 * Index a batch of stream events in ONE transaction (multi-row statements per table). When
 * that transaction fails (after retrying deadlocks), every entry is retried alone so one bad
 * entry cannot block the others; the result says which failed and why. Never throws for a
 * bad event; throws only when the database itself is unusable and even single entries fail
 * the same way (all entries then come back `failed`, so the caller can retry later).
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
  let attempts = Math.max(1, (opts.retries ?? 2) + 1)
  for (;;) {
    try {
      const res = await inTransaction(database, prepared, handles, metrics)
      for (const [i, o] of res) outcomes[i] = o
      break
    } catch (err) {
      if (isRetryable(err) && --attempts > 0) continue
      if (prepared.length === 1) {
        outcomes[0] = { status: 'failed', error: new BatchWriteError((err as Error).message, 0, err) }
        break
      }
      if (prepared.length === 0) throw err
      isolated = true
      metrics?.batchIsolations.inc()
      for (const p of prepared) {
        const index = p.kind === 'record' ? p.op.index : p.index
        try {
          const res = await inTransaction(database, [p], handles, metrics)
          for (const [i, o] of res) outcomes[i] = o
        } catch (e) {
          outcomes[index] = { status: 'failed', error: new BatchWriteError((e as Error).message, index, e) }
        }
      }
      break
    }
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
