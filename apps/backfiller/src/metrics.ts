/**
 * The backfiller's metrics. The `backfiller_*` names of docs/design.md are fixed by the operators'
 * runbook; labels are bounded (a reason out of a fixed list, never a DID or a host).
 */
import { Counter, Gauge, Histogram, Registry } from '@firehose/service'
import type { VerificationReason } from '@firehose/atproto'
import { createWorkerMetrics, readGroupStats, registerBacklogGauges, type RedisClient, type WorkerMetrics } from '@firehose/streams'

export type FailureReason =
  | 'fetch'
  | 'car_parse'
  | 'verification'
  | 'identity'
  | 'unavailable'
  | 'too_large'
  | 'crashed'
  | 'snapshot_behind'
  | 'other'

export interface BackfillerMetrics {
  reposProcessed: Counter
  resyncsCompleted: Counter
  /** each failed attempt, by reason */
  reposFailed: Counter<'reason'>
  reposDeadLettered: Counter<'stream'>
  recordsExtracted: Counter
  retriesAttempted: Counter
  reposRunning: Gauge
  carFetchErrors: Counter<'kind'>
  carParseErrors: Counter
  verificationErrors: Counter<'reason'>
  rateLimited: Counter
  rateLimitWaitSeconds: Counter
  fetchSeconds: Histogram
  fetchedBytes: Counter
  verifySeconds: Histogram
  bytesInFlight: Gauge
  /** connections to peers refused by the outgoing-request policy, by address class */
  peerRefused: Counter<'reason'>
  /** repos put back in the queue because their host held its share of slots */
  hostShareDeferred: Counter
  /** repos refused for the JSON they would produce, by budget */
  outputBudgetExceeded: Counter<'budget'>
  /** DID cache writes that failed (Redis full or down): skipped */
  didCacheWriteFailures: Counter
  /** repos run alone because an earlier attempt was in flight when the process died */
  reposIsolated: Counter
  worker: WorkerMetrics
}

export type OutputBudget = 'json_bytes' | 'records' | 'repeated_records'

const FETCH_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

export function createBackfillerMetrics(
  registry: Registry,
  streams: () => { redis: RedisClient; inStreams: string[]; group: string; outStreams: string[] },
): BackfillerMetrics {
  const registers = [registry]
  const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers })

  // The worker's own metrics, except that its dead-letter counter is the runbook's.
  const reposDeadLettered = counter('backfiller_repos_dead_lettered_total', 'Repos written to repo_backfill_dlq (then acked)', ['stream'])
  const scratch = createWorkerMetrics(new Registry(), 'backfiller')
  const worker: WorkerMetrics = { ...scratch, deadLettered: reposDeadLettered }
  for (const [key, metric] of Object.entries(worker)) if (key !== 'deadLettered') registry.registerMetric(metric)

  new Gauge({
    name: 'backfiller_repos_waiting',
    help: 'Repos in the input stream not yet delivered to the group (XINFO GROUPS lag, else XLEN)',
    registers,
    async collect() {
      const s = streams()
      try {
        let n = 0
        for (const name of s.inStreams) {
          const stats = await readGroupStats(s.redis, name, s.group)
          n += stats.lag ?? stats.length
        }
        this.set(n)
      } catch {
        // Redis down: keep the last value (readiness reports it)
      }
    },
  })
  new Gauge({
    name: 'backfiller_output_stream_length',
    help: 'Entries in the output stream (XLEN of firehose_backfill)',
    registers,
    async collect() {
      const s = streams()
      try {
        let n = 0
        for (const name of s.outStreams) n += await s.redis.xlen(name)
        this.set(n)
      } catch {
        // keep the last value
      }
    },
  })

  const m: BackfillerMetrics = {
    reposProcessed: counter('backfiller_repos_processed_total', 'Repos verified and fully emitted'),
    resyncsCompleted: counter(
      'backfiller_resyncs_completed_total',
      "Backfills of repos the ingesters had marked desynchronized: their sync state is the snapshot's, active again",
    ),
    reposFailed: counter('backfiller_repos_failed_total', 'Failed repo attempts, by reason (a repo retried 3 times counts 3)', ['reason']),
    reposDeadLettered,
    recordsExtracted: counter('backfiller_records_extracted_total', 'Records emitted as create events'),
    retriesAttempted: counter('backfiller_retries_attempted_total', 'Repo attempts after the first (retries and reclaimed entries)'),
    reposRunning: new Gauge({ name: 'backfiller_repos_running', help: 'Repos being fetched, verified or emitted', registers }),
    carFetchErrors: counter('backfiller_car_fetch_errors_total', 'getRepo failures: HTTP status, timeout, network (429s not included)', [
      'kind',
    ]),
    carParseErrors: counter('backfiller_car_parse_errors_total', 'CARs that are malformed or truncated'),
    verificationErrors: counter('backfiller_verification_errors_total', 'Repos failing verification, by reason', ['reason']),
    rateLimited: counter('backfiller_rate_limited_total', 'HTTP 429 answers (waited out, not counted as attempts)'),
    rateLimitWaitSeconds: counter('backfiller_rate_limit_wait_seconds_total', 'Time spent waiting on 429s'),
    fetchSeconds: new Histogram({
      name: 'backfiller_fetch_seconds',
      help: 'getRepo latency (request to last byte), successful fetches',
      buckets: FETCH_BUCKETS,
      registers,
    }),
    fetchedBytes: counter('backfiller_fetched_bytes_total', 'CAR bytes fetched'),
    verifySeconds: new Histogram({
      name: 'backfiller_verify_seconds',
      help: 'Verification time of a repo (CIDs, signature, MST walk)',
      buckets: FETCH_BUCKETS,
      registers,
    }),
    bytesInFlight: new Gauge({ name: 'backfiller_bytes_in_flight', help: 'CAR bytes held by repos in flight', registers }),
    peerRefused: counter(
      'backfiller_peer_requests_refused_total',
      'Connections to peers refused by the outgoing-request policy (ALLOW_PRIVATE_NETWORKS), by address class',
      ['reason'],
    ),
    hostShareDeferred: counter(
      'backfiller_host_share_deferred_total',
      'Repos put back in the queue: their PDS host held BACKFILLER_HOST_MAX_SLOTS slots',
    ),
    outputBudgetExceeded: counter(
      'backfiller_output_budget_exceeded_total',
      'Repos refused (too-large) for the event JSON they would produce, by budget',
      ['budget'],
    ),
    didCacheWriteFailures: counter('backfiller_did_cache_write_failures_total', 'DID cache writes to Redis that failed and were skipped'),
    reposIsolated: counter('backfiller_repos_isolated_total', 'Repos retried alone: they were in flight when a backfiller process died'),
    worker,
  }
  // Export every labelled series at 0 from the start, so alerts and rate() see them.
  for (const reason of FAILURE_REASONS) m.reposFailed.inc({ reason }, 0)
  for (const kind of ['status_5xx', 'status_4xx', 'timeout', 'network', 'refused', 'rate_limited', 'too_large_document'])
    m.carFetchErrors.inc({ kind }, 0)
  for (const reason of VERIFICATION_REASONS) m.verificationErrors.inc({ reason }, 0)
  for (const budget of OUTPUT_BUDGETS) m.outputBudgetExceeded.inc({ budget }, 0)
  for (const stream of streams().inStreams) reposDeadLettered.inc({ stream }, 0)
  // oldest unacked entry per group of repo_backfill, and what its DLQ holds
  registerBacklogGauges(registry, 'backfiller', streams().redis, () => streams().inStreams)
  return m
}

const OUTPUT_BUDGETS: OutputBudget[] = ['json_bytes', 'records', 'repeated_records']
const FAILURE_REASONS: FailureReason[] = [
  'fetch',
  'car_parse',
  'verification',
  'identity',
  'unavailable',
  'too_large',
  'crashed',
  'snapshot_behind',
  'other',
]
const VERIFICATION_REASONS: VerificationReason[] = [
  'cid-mismatch',
  'missing-block',
  'bad-commit',
  'did-mismatch',
  'bad-signature',
  'bad-key',
  'bad-mst',
  'bad-record',
]
