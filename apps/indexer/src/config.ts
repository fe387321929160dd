import { parseConfig, readCommon, type CommonConfig, type Env } from '@firehose/service'
import { GROUPS, STREAMS } from '@firehose/streams'

export interface IndexerConfig extends CommonConfig {
  databaseUrl: string
  databaseMigrationUrl: string | undefined
  dbPoolMaxSize: number
  dbPoolMinIdle: number
  consumer: string
  /** Batch transactions in flight at once, per stream. */
  concurrency: number
  batchSize: number
  streams: string[]
  group: string
  labelStream: string
  labelGroup: string
  migrate: boolean
  enableDidResolution: boolean
  plcUrl: string
  handleResolverUrl: string | undefined
  maxDeliveries: number
  claimIdleMs: number
  trimIntervalMs: number
  deleteOnAck: boolean
}

/** The only place the indexer reads the environment (DESIGN.md "Environment variables"). */
export function loadConfig(env: Env = process.env): IndexerConfig {
  return parseConfig(env, (r) => {
    const common = readCommon(r)
    const concurrency = r.int('INDEXER_CONCURRENCY', 100, { min: 1, max: 10_000 })
    return {
      ...common,
      databaseUrl: r.url('DATABASE_URL', undefined, ['postgres:', 'postgresql:']) ?? r.required('DATABASE_URL'),
      databaseMigrationUrl: r.url('DATABASE_MIGRATION_URL', undefined, ['postgres:', 'postgresql:']),
      dbPoolMaxSize: r.int('DB_POOL_MAX_SIZE', concurrency * 2, { min: 1 }),
      dbPoolMinIdle: r.int('DB_POOL_MIN_IDLE', 0, { min: 0 }),
      consumer: r.required('INDEXER_CONSUMER'),
      concurrency,
      batchSize: r.int('INDEXER_BATCH_SIZE', 500, { min: 1, max: 10_000 }),
      streams: r.list('INDEXER_STREAMS', [STREAMS.firehoseLive, STREAMS.firehoseBackfill]),
      group: r.str('INDEXER_GROUP', GROUPS.indexer),
      labelStream: r.str('INDEXER_LABEL_STREAM', STREAMS.labelLive),
      labelGroup: r.str('INDEXER_LABEL_GROUP', GROUPS.label),
      migrate: r.bool('INDEXER_MIGRATE', true),
      enableDidResolution: r.bool('ENABLE_DID_RESOLUTION', true),
      plcUrl: r.url('PLC_URL', 'https://plc.directory', ['http:', 'https:']) ?? 'https://plc.directory',
      handleResolverUrl: r.url('HANDLE_RESOLVER_URL', undefined, ['http:', 'https:']),
      maxDeliveries: r.int('INDEXER_MAX_DELIVERIES', 5, { min: 1 }),
      claimIdleMs: r.int('INDEXER_CLAIM_IDLE_MS', 60_000, { min: 100 }),
      trimIntervalMs: r.int('INDEXER_TRIM_INTERVAL_MS', 10_000, { min: 0 }),
      deleteOnAck: r.bool('INDEXER_DELETE_ON_ACK', false),
    }
  })
}
