import { Counter, Gauge, Histogram, type Registry } from '@firehose/service'
import type { Pool } from 'pg'
import { recordModules } from './records/index.js'

/** The bounded set of `collection` label values: known ones, else `other`. */
const KNOWN = new Set<string>([
  ...recordModules.map((m) => m.collection),
  'chat.bsky.actor.declaration',
  'app.bsky.notification.declaration',
  'app.bsky.actor.status',
])
export const collectionLabel = (collection: string): string => (KNOWN.has(collection) ? collection : 'other')

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/** The indexer's database-side metrics (docs/design.md: prefix `indexer_`, seconds, bounded labels). */
export interface IndexerMetrics {
  recordsWritten: Counter<'collection' | 'op'>
  staleWrites: Counter<'collection'>
  unchangedWrites: Counter<'collection'>
  invalidRecords: Counter<'collection'>
  eventsIndexed: Counter<'type' | 'outcome'>
  labelsWritten: Counter<'outcome'>
  batchIsolations: Counter
  /** Record text Postgres cannot store: replaced (record content) or refused (event fields). */
  unstorableText: Counter<'action' | 'reason'>
  /** Entries Postgres refused when written alone (after bisecting their batch), by SQLSTATE. */
  entriesRefused: Counter<'sqlstate'>
  /** Labels refused before the statement, by the field Postgres would refuse. */
  labelsRefused: Counter<'reason'>
  batchDuration: Histogram
  transactionDuration: Histogram
  batchSize: Histogram
  aggregateRecounts: Counter
  /** Records deleted because a re-backfill's snapshot no longer holds them (writer/reconcile.ts). */
  recordsReconciled: Counter
  /** Batches that left derived state to an open bulk load's finish (INDEXER_MODE=bulk, src/bulk/). */
  deferredBatches: Counter
  /** Report the pool's connections as gauges (total, idle, waiting clients). */
  observePool(pool: Pool): void
}

export function createIndexerMetrics(registry: Registry): IndexerMetrics {
  const registers = [registry]
  const pools: Pool[] = []
  const poolGauge = (name: string, help: string, read: (p: Pool) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(pools.reduce((n, p) => n + read(p), 0))
      },
    })
  poolGauge('indexer_db_pool_connections', 'Open Postgres connections in the pool', (p) => p.totalCount)
  poolGauge('indexer_db_pool_idle_connections', 'Idle Postgres connections in the pool', (p) => p.idleCount)
  poolGauge('indexer_db_pool_waiting_clients', 'Queries waiting for a pool connection', (p) => p.waitingCount)
  return {
    recordsWritten: new Counter({
      name: 'indexer_records_written_total',
      help: 'Record writes applied, by collection and op (create|update|delete)',
      labelNames: ['collection', 'op'],
      registers,
    }),
    staleWrites: new Counter({
      name: 'indexer_stale_writes_skipped_total',
      help: 'Record writes skipped because a newer version (or delete) is already indexed',
      labelNames: ['collection'],
      registers,
    }),
    unchangedWrites: new Counter({
      name: 'indexer_unchanged_writes_total',
      help: 'Record writes that were already indexed (replays, duplicates)',
      labelNames: ['collection'],
      registers,
    }),
    invalidRecords: new Counter({
      name: 'indexer_invalid_records_total',
      help: 'Records skipped because they do not validate against their lexicon',
      labelNames: ['collection'],
      registers,
    }),
    eventsIndexed: new Counter({
      name: 'indexer_events_indexed_total',
      help: 'Events handled by the writer, by event type and outcome',
      labelNames: ['type', 'outcome'],
      registers,
    }),
    labelsWritten: new Counter({
      name: 'indexer_labels_written_total',
      help: 'Labels handled, by outcome (applied|stale|invalid)',
      labelNames: ['outcome'],
      registers,
    }),
    batchIsolations: new Counter({
      name: 'indexer_batch_isolations_total',
      help: 'Batches whose transaction Postgres refused and that were bisected to find the refused entries',
      registers,
    }),
    unstorableText: new Counter({
      name: 'indexer_unstorable_text_total',
      help: 'Events with text Postgres cannot store (U+0000, lone surrogates): record content replaced by U+FFFD, or the event refused (its identifiers)',
      labelNames: ['action', 'reason'],
      registers,
    }),
    entriesRefused: new Counter({
      name: 'indexer_entries_refused_total',
      help: 'Entries Postgres refused when written alone (their batch was bisected), by SQLSTATE',
      labelNames: ['sqlstate'],
      registers,
    }),
    labelsRefused: new Counter({
      name: 'indexer_labels_refused_total',
      help: 'Labels refused before the statement because Postgres would refuse a field, by reason',
      labelNames: ['reason'],
      registers,
    }),
    batchDuration: new Histogram({
      name: 'indexer_batch_duration_seconds',
      help: 'Time to index one batch, including retries',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    transactionDuration: new Histogram({
      name: 'indexer_db_transaction_duration_seconds',
      help: 'Time of one write transaction',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    batchSize: new Histogram({
      name: 'indexer_batch_events',
      help: 'Events per indexed batch',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000],
      registers,
    }),
    aggregateRecounts: new Counter({
      name: 'indexer_aggregate_recounts_total',
      help: 'Aggregate counter rows brought up to date (kept by delta or recounted), one per key per batch',
      registers,
    }),
    recordsReconciled: new Counter({
      name: 'indexer_records_reconciled_total',
      help: 'Records deleted because a re-backfilled snapshot no longer holds them (below the snapshot floor)',
      registers,
    }),
    deferredBatches: new Counter({
      name: 'indexer_bulk_deferred_batches_total',
      help: "Batches that left post flags, notifications and counters to the open bulk load's finish (INDEXER_MODE=bulk)",
      registers,
    }),
    observePool(pool) {
      if (!pools.includes(pool)) pools.push(pool)
    },
  }
}
