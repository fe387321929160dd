import { parseNetworkList, type NetworkList } from '@firehose/atproto'
import { parseConfig, readCommon, readDlqRetention, type CommonConfig, type DlqRetentionConfig, type Env } from '@firehose/service'
import { GROUPS, STREAMS } from '@firehose/streams'

export interface IndexerConfig extends CommonConfig, DlqRetentionConfig {
  databaseUrl: string
  databaseMigrationUrl: string | undefined
  dbPoolMaxSize: number
  dbPoolMinIdle: number
  consumer: string
  /** Handler calls (batches) in flight at once, per stream shard (INDEXER_CONCURRENCY_PER_SHARD). */
  concurrencyPerShard: number
  /** Entries per handler call: one read count unit, one transaction (INDEXER_READ_BATCH). */
  readBatch: number
  streams: string[]
  group: string
  labelStream: string
  labelGroup: string
  migrate: boolean
  enableDidResolution: boolean
  plcUrl: string
  handleResolverUrl: string | undefined
  /** Special addresses (loopback, private…) that PLC, did:web and handle hosts may still make us contact. */
  allowPrivateNetworks: NetworkList
  /** Deadline of one handle verification, and each request's timeout (HTTP, DNS). */
  identityTimeoutMs: number
  /** Handle verifications at once, in the background. */
  identityConcurrency: number
  identityCacheSize: number
  maxDeliveries: number
  claimIdleMs: number
  trimIntervalMs: number
  deleteOnAck: boolean
  /** A read loop that has not gone round for this long: /health false; twice that: exit 70. */
  watchdogMs: number
  /** Tombstones older than this are pruned (tombstones/prune.ts). */
  tombstoneHorizonMs: number
  /** How often (0: never). */
  tombstonePruneIntervalMs: number
  /** Write bsky's `notification` rows (INDEXER_NOTIFICATIONS). */
  notifications: boolean
  /**
   * INDEXER_MODE: `bulk` for the indexers of a first backfill's bulk load (src/bulk/): while a
   * load is open their batches defer derived state to its finish; `normal` otherwise.
   */
  mode: IndexerMode
}

export const INDEXER_MODES = ['normal', 'bulk'] as const
export type IndexerMode = (typeof INDEXER_MODES)[number]

/** The only place the indexer reads the environment (docs/design.md "Environment variables"). */
export function loadConfig(env: Env = process.env): IndexerConfig {
  return parseConfig(env, (r) => {
    const common = readCommon(r)
    const concurrencyPerShard = r.int(r.renamed('INDEXER_CONCURRENCY_PER_SHARD', 'INDEXER_CONCURRENCY'), 100, { min: 1, max: 10_000 })
    const dbPoolMaxSize = r.int('DB_POOL_MAX_SIZE', concurrencyPerShard * 2, { min: 1 })
    return {
      ...common,
      ...readDlqRetention(r),
      databaseUrl: r.url('DATABASE_URL', undefined, ['postgres:', 'postgresql:']) ?? r.required('DATABASE_URL'),
      databaseMigrationUrl: r.url('DATABASE_MIGRATION_URL', undefined, ['postgres:', 'postgresql:']),
      dbPoolMaxSize,
      dbPoolMinIdle: r.int('DB_POOL_MIN_IDLE', 0, { min: 0, max: dbPoolMaxSize }),
      consumer: r.required('INDEXER_CONSUMER'),
      concurrencyPerShard,
      readBatch: r.int(r.renamed('INDEXER_READ_BATCH', 'INDEXER_BATCH_SIZE'), 500, { min: 1, max: 10_000 }),
      streams: r.list('INDEXER_STREAMS', [STREAMS.firehoseLive, STREAMS.firehoseBackfill]),
      group: r.str('INDEXER_GROUP', GROUPS.indexer),
      labelStream: r.str('INDEXER_LABEL_STREAM', STREAMS.labelLive),
      labelGroup: r.str('INDEXER_LABEL_GROUP', GROUPS.label),
      migrate: r.bool('INDEXER_MIGRATE', true),
      enableDidResolution: r.bool('ENABLE_DID_RESOLUTION', true),
      plcUrl: r.url('PLC_URL', 'https://plc.directory', ['http:', 'https:']) ?? 'https://plc.directory',
      handleResolverUrl: r.url('HANDLE_RESOLVER_URL', undefined, ['http:', 'https:']),
      allowPrivateNetworks: r.parsed('ALLOW_PRIVATE_NETWORKS', '', parseNetworkList),
      identityTimeoutMs: r.int('INDEXER_IDENTITY_TIMEOUT_MS', 5000, { min: 100, max: 120_000 }),
      identityConcurrency: r.int('INDEXER_IDENTITY_CONCURRENCY', 16, { min: 1, max: 1000 }),
      identityCacheSize: r.int('INDEXER_IDENTITY_CACHE_SIZE', 50_000, { min: 0 }),
      maxDeliveries: r.int('INDEXER_MAX_DELIVERIES', 5, { min: 1 }),
      claimIdleMs: r.int('INDEXER_CLAIM_IDLE_MS', 60_000, { min: 100 }),
      trimIntervalMs: r.int('INDEXER_TRIM_INTERVAL_MS', 10_000, { min: 0 }),
      deleteOnAck: r.bool('INDEXER_DELETE_ON_ACK', false),
      watchdogMs: r.int('INDEXER_WATCHDOG_MS', 60_000, { min: 2000 }),
      tombstoneHorizonMs: r.int('INDEXER_TOMBSTONE_HORIZON_HOURS', 168, { min: 2, max: 100_000 }) * 3_600_000,
      tombstonePruneIntervalMs: r.int('INDEXER_TOMBSTONE_PRUNE_INTERVAL_MS', 60_000, { min: 0 }),
      notifications: r.bool('INDEXER_NOTIFICATIONS', true),
      mode: r.oneOf('INDEXER_MODE', 'normal', INDEXER_MODES),
    }
  })
}
