import { createLogger, createRegistry, startHttpServer, type HttpServer, type Logger, type Registry } from '@firehose/service'
import {
  allShards,
  createRedis,
  createWorkerMetrics,
  pingRedis,
  registerGroupGauges,
  StreamWorker,
  type RedisClient,
} from '@firehose/streams'
import type { IndexerConfig } from './config.js'
import { createConsumerMetrics, firehoseHandler, labelHandler, pingDb, type HandlerDeps } from './consumer.js'
import { createDb, type Database } from './db/database.js'
import { migrate } from './db/migrator.js'
import { resolvingHandleVerifier } from './handle-verifier.js'
import { createIndexerMetrics } from './metrics.js'
import { trustingHandleVerifier } from './writer/handles.js'

export interface IndexerHandle {
  registry: Registry
  http: HttpServer
  database: Database
  redis: RedisClient
  workers: StreamWorker[]
  close(): Promise<void>
}

/** Start the indexer: migrations, one consumer-group worker per stream (and shard), HTTP. */
export async function startIndexer(config: IndexerConfig, logger: Logger = createLogger('indexer', config.logLevel)): Promise<IndexerHandle> {
  const registry = createRegistry('indexer')
  const redis = createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes, connectionName: `indexer:${config.consumer}` })
  redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis error'))
  const database = createDb(config.databaseUrl, config.dbPoolMaxSize)
  if (config.migrate) {
    const res = await migrate(database, config.databaseMigrationUrl ? { migrationUrl: config.databaseMigrationUrl } : {})
    logger.info({ applied: res.applied }, 'migrations done')
  }
  const metrics = createIndexerMetrics(registry)
  metrics.observePool(database.pool)
  const consumerMetrics = createConsumerMetrics(registry)
  const workerMetrics = createWorkerMetrics(registry, 'indexer')
  const abort = new AbortController()
  const verifier = config.enableDidResolution
    ? resolvingHandleVerifier({ plcUrl: config.plcUrl, handleResolverUrl: config.handleResolverUrl, logger })
    : trustingHandleVerifier
  const deps: HandlerDeps = { database, metrics, consumerMetrics, verifier, logger, signal: abort.signal }

  const common = {
    redis,
    consumer: config.consumer,
    batchSize: config.batchSize,
    concurrency: config.concurrency,
    maxDeliveries: config.maxDeliveries,
    claimIdleMs: config.claimIdleMs,
    claimIntervalMs: Math.max(1000, Math.floor(config.claimIdleMs / 2)),
    trimIntervalMs: config.trimIntervalMs,
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
  for (const w of workers) await w.start()

  const http = await startHttpServer({
    port: config.metricsPort,
    registry,
    logger,
    health: () => workers.every((w) => Date.now() - w.lastLoopAt < 60_000),
    ready: async () => (await pingRedis(redis)) && (await pingDb(database)),
  })
  logger.info({ streams: targets, consumer: config.consumer, port: http.port }, 'indexer started')

  let closing: Promise<void> | undefined
  return {
    registry,
    http,
    database,
    redis,
    workers,
    close() {
      closing ??= (async () => {
        abort.abort()
        await Promise.all(workers.map((w) => w.close()))
        await http.close()
        await database.close()
        await redis.quit().catch(() => redis.disconnect())
      })()
      return closing
    },
  }
}
