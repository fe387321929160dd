/**
 * The backfiller's configuration: the only module that reads `process.env`. A bad value stops the
 * process at start-up with a ConfigError naming the variable (see README.md for the table).
 */
import { availableParallelism } from 'node:os'
import { parseConfig, readCommon, readDlqRetention, type CommonConfig, type DlqRetentionConfig, type Env } from '@firehose/service'
import { GROUPS, STREAMS } from '@firehose/streams'
import { MAX_DID_DOCUMENT_BYTES, parseNetworkList, type NetworkList } from '@firehose/atproto'

export interface BackfillerConfig extends CommonConfig, DlqRetentionConfig {
  /** How often the worker trims what every group of repo_backfill has acked, and the DLQ. */
  trimIntervalMs: number
  /** unique per instance; the consumer name in the group */
  consumer: string
  plcUrl: string
  /** key prefix of the per-DID sync state the ingesters verify against (INGESTER_SYNC_STATE_PREFIX) */
  syncStatePrefix: string
  inStream: string
  outStream: string
  group: string
  /** Repos in flight at once in this process, over all input shards (BACKFILLER_REPOS_IN_FLIGHT). */
  reposInFlight: number
  /** `create` events per chunk written to the output stream, and per XADD batch (BACKFILLER_CHUNK_SIZE). */
  chunkSize: number
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
  /** DIDs kept in the shared Redis cache (the oldest are dropped beyond it) */
  didCacheMaxEntries: number
  /** special addresses (loopback, private…) that peers may still make us contact: the local test network */
  allowPrivateNetworks: NetworkList
  /** largest DID document (or other small peer document) read */
  maxDocumentBytes: number
  /** 429 waits allowed in one attempt, then the attempt fails (a retry later) */
  maxRateLimitWaits: number
  /** total 429 waiting allowed in one attempt */
  maxRateLimitTotalMs: number
  /** repos of one PDS host in flight at once (the others are put back in the queue) */
  hostMaxSlots: number
  /** event JSON allowed per CAR byte (records pointing many times at one big block amplify) */
  maxJsonPerCarByte: number
  /** floor of the JSON budget, for small CARs */
  minJsonBudgetBytes: number
  /** leaves allowed to point at an already used record block */
  maxRepeatedRecords: number
  /** times a repo may be running alone when the process dies, then it is dead-lettered (`crashed`) */
  maxCrashes: number
  /** test only: the process kills itself (SIGKILL, as the OOM killer does) when it starts this DID */
  testCrashOnDid?: string
}

export function loadConfig(env: Env = process.env): BackfillerConfig {
  return parseConfig(env, (r) => {
    const common = readCommon(r, ['BACKFILLER_METRICS_PORT', 'METRICS_PORT'])
    const cfg: BackfillerConfig = {
      ...common,
      ...readDlqRetention(r),
      trimIntervalMs: r.int('BACKFILLER_TRIM_INTERVAL_MS', 10_000, { min: 100 }),
      consumer: r.required('BACKFILLER_CONSUMER'),
      plcUrl: r.url('PLC_URL', 'https://plc.directory', ['http:', 'https:']) ?? 'https://plc.directory',
      syncStatePrefix: r.str('BACKFILLER_SYNC_STATE_PREFIX', 'sync_state'),
      inStream: r.str('BACKFILLER_IN_STREAM', STREAMS.repoBackfill),
      outStream: r.str('BACKFILLER_OUT_STREAM', STREAMS.firehoseBackfill),
      group: r.str('BACKFILLER_GROUP', GROUPS.repoBackfill),
      reposInFlight: r.int(r.renamed('BACKFILLER_REPOS_IN_FLIGHT', 'BACKFILLER_CONCURRENCY'), 20, { min: 1, max: 10_000 }),
      chunkSize: r.int(r.renamed('BACKFILLER_CHUNK_SIZE', 'BACKFILLER_BATCH_SIZE'), 500, { min: 1, max: 100_000 }),
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
      didCacheMaxEntries: r.int('BACKFILLER_DID_CACHE_MAX_ENTRIES', 200_000, { min: 1 }),
      allowPrivateNetworks: r.parsed('ALLOW_PRIVATE_NETWORKS', '', parseNetworkList),
      maxDocumentBytes: r.int('BACKFILLER_MAX_DOCUMENT_BYTES', MAX_DID_DOCUMENT_BYTES, { min: 1024, max: 16 * 1024 * 1024 }),
      maxRateLimitWaits: r.int('BACKFILLER_MAX_RATE_LIMIT_WAITS', 5, { min: 0, max: 1000 }),
      maxRateLimitTotalMs: r.int('BACKFILLER_MAX_RATE_LIMIT_TOTAL_SECS', 900, { min: 1 }) * 1000,
      hostMaxSlots: 0, // set below (default: half of BACKFILLER_REPOS_IN_FLIGHT)
      maxJsonPerCarByte: r.int('BACKFILLER_MAX_JSON_PER_CAR_BYTE', 8, { min: 1, max: 1000 }),
      minJsonBudgetBytes: r.int('BACKFILLER_MIN_JSON_BUDGET_BYTES', 16 * 1024 * 1024, { min: 1024 }),
      maxRepeatedRecords: r.int('BACKFILLER_MAX_REPEATED_RECORDS', 1000, { min: 0 }),
      maxCrashes: r.int('BACKFILLER_MAX_CRASHES', 2, { min: 1, max: 1000 }),
      testCrashOnDid: r.str('BACKFILLER_TEST_CRASH_ON_DID', '') || undefined,
    }
    cfg.hostMaxSlots = r.int('BACKFILLER_HOST_MAX_SLOTS', Math.max(1, Math.ceil(cfg.reposInFlight / 2)), { min: 1, max: 10_000 })
    if (cfg.retryMaxMs < cfg.retryInitialMs) {
      r.problems.push({ variable: 'BACKFILLER_RETRY_MAX_BACKOFF_MS', message: 'must be >= BACKFILLER_RETRY_INITIAL_BACKOFF_MS' })
    }
    return cfg
  })
}
