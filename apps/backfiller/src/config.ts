/**
 * The backfiller's configuration: the only module that reads `process.env`. A bad value stops the
 * process at start-up with a ConfigError naming the variable (see README.md for the table).
 */
import { availableParallelism } from 'node:os'
import { parseConfig, readCommon, type CommonConfig, type Env } from '@firehose/service'
import { GROUPS, STREAMS } from '@firehose/streams'

export interface BackfillerConfig extends CommonConfig {
  /** unique per instance; the consumer name in the group */
  consumer: string
  plcUrl: string
  inStream: string
  outStream: string
  group: string
  /** repos processed at once */
  concurrency: number
  /** `create` events per chunk written to the output stream */
  batchSize: number
  httpTimeoutMs: number
  maxRetries: number
  retryInitialMs: number
  retryMaxMs: number
  /** output stream length at which emission pauses */
  highWaterMark: number
  /** largest CAR accepted (bytes) */
  maxRepoBytes: number
  /** CAR bytes held by all repos in flight (fetched, verifying or emitting) */
  maxBytesInFlight: number
  /** requests per second to one PDS host (burst: the same number) */
  hostRps: number
  /** longest single wait on a 429 (longer Retry-After values are waited in several steps) */
  maxRateLimitWaitMs: number
  /** pending entries idle this long on another consumer are taken over */
  claimIdleMs: number
  /** threads verifying repos off the main thread (0, the default: on the main thread) */
  verifyThreads: number
  /** how long a DID document is served from the shared Redis cache before being refreshed */
  didCacheTtlMs: number
}

export function loadConfig(env: Env = process.env): BackfillerConfig {
  return parseConfig(env, (r) => {
    const common = readCommon(r, ['BACKFILLER_METRICS_PORT', 'METRICS_PORT'])
    const cfg: BackfillerConfig = {
      ...common,
      consumer: r.required('BACKFILLER_CONSUMER'),
      plcUrl: r.url('PLC_URL', 'https://plc.directory', ['http:', 'https:']) ?? 'https://plc.directory',
      inStream: r.str('BACKFILLER_IN_STREAM', STREAMS.repoBackfill),
      outStream: r.str('BACKFILLER_OUT_STREAM', STREAMS.firehoseBackfill),
      group: r.str('BACKFILLER_GROUP', GROUPS.repoBackfill),
      concurrency: r.int('BACKFILLER_CONCURRENCY', 20, { min: 1, max: 10_000 }),
      batchSize: r.int('BACKFILLER_BATCH_SIZE', 500, { min: 1, max: 100_000 }),
      httpTimeoutMs: r.int('BACKFILLER_HTTP_TIMEOUT_SECS', 60, { min: 1, max: 86_400 }) * 1000,
      maxRetries: r.int('BACKFILLER_MAX_RETRIES', 3, { min: 0, max: 1000 }),
      retryInitialMs: r.int('BACKFILLER_RETRY_INITIAL_BACKOFF_MS', 1000, { min: 1 }),
      retryMaxMs: r.int('BACKFILLER_RETRY_MAX_BACKOFF_MS', 30_000, { min: 1 }),
      highWaterMark: r.int('BACKFILLER_HIGH_WATER_MARK', 1_000_000, { min: 1 }),
      maxRepoBytes: r.int('BACKFILLER_MAX_REPO_BYTES', 512 * 1024 * 1024, { min: 1024 }),
      maxBytesInFlight: r.int('BACKFILLER_MAX_BYTES_IN_FLIGHT', 64 * 1024 * 1024, { min: 1024 }),
      hostRps: r.int('BACKFILLER_HOST_RPS', 10, { min: 1, max: 100_000 }),
      maxRateLimitWaitMs: r.int('BACKFILLER_MAX_RATE_LIMIT_WAIT_SECS', 300, { min: 1 }) * 1000,
      claimIdleMs: r.int('BACKFILLER_CLAIM_IDLE_MS', 60_000, { min: 100 }),
      verifyThreads: r.int('BACKFILLER_VERIFY_THREADS', 0, { min: 0, max: Math.max(1, availableParallelism()) }),
      didCacheTtlMs: r.int('BACKFILLER_DID_CACHE_TTL_SECS', 3600, { min: 1 }) * 1000,
    }
    if (cfg.retryMaxMs < cfg.retryInitialMs) {
      r.problems.push({ variable: 'BACKFILLER_RETRY_MAX_BACKOFF_MS', message: 'must be >= BACKFILLER_RETRY_INITIAL_BACKOFF_MS' })
    }
    return cfg
  })
}
