import { readBulkLoad, stateOf } from './bulk/load.js'
import {
  closeOnce,
  createLogger,
  createRegistry,
  settleAll,
  startHttpServer,
  type HttpServer,
  type Logger,
  type Registry,
} from '@firehose/service'
import {
  allShards,
  createRedis,
  createWorkerMetrics,
  pingRedis,
  registerBacklogGauges,
  registerGroupGauges,
  StreamWorker,
  type RedisClient,
} from '@firehose/streams'
import type { IndexerConfig } from './config.js'
import { createConsumerMetrics, firehoseHandler, labelHandler, pingDb, type HandlerDeps } from './handlers.js'
import { createDb, type Database } from './db/database.js'
import { migrate } from './db/migrator.js'
import { resolvingHandleVerifier } from './handle-verifier.js'
import { createPeerFetch, createReportedPeerPolicy, MAX_DID_DOCUMENT_BYTES } from '@firehose/atproto'
import { HandleChecker } from './handle-checks.js'
import { createIdentityMetrics } from './identity-metrics.js'
import { createIndexerMetrics } from './metrics.js'
import { trustingHandleVerifier } from './writer/handles.js'
import { createTombstoneMetrics, startTombstonePruner } from './tombstones/prune.js'

export interface RunningIndexer {
  registry: Registry
  http: HttpServer
  database: Database
  redis: RedisClient
  workers: StreamWorker[]
  /** Every read loop went round within INDEXER_WATCHDOG_MS (what /health and the watchdog use). */
  healthy(): boolean
  close(): Promise<void>
}

/** Start the indexer: migrations, one consumer-group worker per stream (and shard), HTTP. */
export async function startIndexer(
  config: IndexerConfig,
  logger: Logger = createLogger('indexer', config.logLevel),
): Promise<RunningIndexer> {
  const registry = createRegistry('indexer')
  const redis = createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes, connectionName: `indexer:${config.consumer}` })
  redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis error'))
  const database = createDb(config.databaseUrl, config.dbPoolMaxSize, { minIdle: config.dbPoolMinIdle })
  if (config.migrate) {
    const res = await migrate(database, config.databaseMigrationUrl ? { migrationUrl: config.databaseMigrationUrl } : {})
    logger.info({ applied: res.applied }, 'migrations done')
  }
  const metrics = createIndexerMetrics(registry)
  metrics.observePool(database.pool)
  const consumerMetrics = createConsumerMetrics(registry)
  const workerMetrics = createWorkerMetrics(registry, 'indexer')
  const abort = new AbortController()
  const identityMetrics = createIdentityMetrics(registry)
  const verifier = config.enableDidResolution
    ? resolvingHandleVerifier({
        plcUrl: config.plcUrl,
        handleResolverUrl: config.handleResolverUrl,
        fetch: createPeerFetch(createReportedPeerPolicy(config.allowPrivateNetworks, identityMetrics.peerRefused, logger), {
          maxBodyBytes: MAX_DID_DOCUMENT_BYTES,
        }),
        timeoutMs: config.identityTimeoutMs,
        cacheSize: config.identityCacheSize,
        metrics: identityMetrics,
        logger,
      })
    : trustingHandleVerifier
  // handles are verified off the batches' path (the batch writes the identity, the checker the handle)
  const handleChecker = config.enableDidResolution
    ? new HandleChecker({ database, verifier, logger, metrics: identityMetrics, concurrency: config.identityConcurrency })
    : undefined
  handleChecker?.start()
  const tombstoneMetrics = createTombstoneMetrics(registry)
  const deps: HandlerDeps = {
    database,
    metrics,
    consumerMetrics,
    verifier,
    notifications: config.notifications,
    bulk: config.mode === 'bulk',
    logger,
    signal: abort.signal,
    tombstoneMetrics,
    ...(handleChecker ? { handleChecker } : {}),
  }

  const common = {
    redis,
    consumer: config.consumer,
    batchSize: config.readBatch,
    concurrency: config.concurrencyPerShard,
    maxDeliveries: config.maxDeliveries,
    claimIdleMs: config.claimIdleMs,
    claimIntervalMs: Math.max(1000, Math.floor(config.claimIdleMs / 2)),
    trimIntervalMs: config.trimIntervalMs,
    dlqMaxAgeMs: config.dlqRetentionMs,
    dlqMaxLength: config.dlqMaxLength,
    deleteOnAck: config.deleteOnAck,
    metrics: workerMetrics,
    logger,
  }
  const targets: { stream: string; group: string }[] = []
  const workers: StreamWorker[] = []
  for (const name of config.streams) {
    for (const stream of allShards(name, config.streamShards)) {
      workers.push(new StreamWorker({ ...common, stream, group: config.group, handler: firehoseHandler(deps) }))
      targets.push({ stream, group: config.group })
    }
  }
  if (config.labelStream) {
    for (const stream of allShards(config.labelStream, config.streamShards)) {
      workers.push(new StreamWorker({ ...common, stream, group: config.labelGroup, handler: labelHandler(deps) }))
      targets.push({ stream, group: config.labelGroup })
    }
  }
  registerGroupGauges(registry, 'indexer', () => targets.map((t) => ({ redis, ...t })))
  registerBacklogGauges(registry, 'indexer', redis, () => targets.map((t) => t.stream))
  for (const w of workers) await w.start()

  const healthy = () => workers.every((w) => Date.now() - w.lastLoopAt < config.watchdogMs)
  const http = await startHttpServer({
    port: config.metricsPort,
    host: config.metricsHost,
    registry,
    logger,
    health: healthy,
    ready: async () => (await pingRedis(redis)) && (await pingDb(database)),
  })
  const pruner = startTombstonePruner(database, {
    horizonMs: config.tombstoneHorizonMs,
    intervalMs: config.tombstonePruneIntervalMs,
    metrics: tombstoneMetrics,
    logger,
  })
  logger.info({ streams: targets, consumer: config.consumer, port: http.port, mode: config.mode }, 'indexer started')
  if (config.mode === 'bulk') {
    const load = await readBulkLoad(database).catch(() => undefined)
    logger.warn(
      { bulkLoad: stateOf(load), streams: config.streams },
      stateOf(load) === 'open'
        ? "bulk mode: post flags, notifications and counters are left to the bulk load's finish (run only on firehose_backfill)"
        : 'bulk mode, but no bulk load is open: batches derive their state as in normal mode (start one with bulk-load start)',
    )
  }

  return {
    registry,
    http,
    database,
    redis,
    workers,
    healthy,
    close: closeOnce(logger, () => [
      { name: 'abort in-flight work', run: () => abort.abort() },
      { name: 'tombstone pruner', run: () => pruner.stop() },
      { name: 'stream workers', run: () => settleAll(workers.map((w) => w.close())) },
      handleChecker && { name: 'handle checker', run: () => handleChecker.close() },
      { name: 'http server', run: () => http.close() },
      { name: 'database', run: () => database.close() },
      { name: 'redis', run: () => redis.quit().catch(() => redis.disconnect()) },
    ]),
  }
}
