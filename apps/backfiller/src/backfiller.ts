/**
 * Wiring: Redis, the consumer-group worker on `repo_backfill`, the output producer with its
 * high-water mark, the HTTP server for /metrics, /health, /ready.
 *
 * Retries use the worker's delivery counting (maxDeliveries = BACKFILLER_MAX_RETRIES + 1): a
 * failed repo frees its slot during the backoff, the count lives in Redis so it survives a
 * crash, and the worker writes the DLQ entry (error, attempts, consumer) before acking. 429s are
 * waited out inside the handler and never reach the worker, so they are not attempts.
 */
import { createLogger, createRegistry, startHttpServer, type HttpServer, type Logger } from '@firehose/service'
import {
  allShards,
  createProducerMetrics,
  createRedis,
  decodeRepoJob,
  pingRedis,
  StreamProducer,
  StreamWorker,
  type RedisClient,
  type StreamEntry,
} from '@firehose/streams'
import { ByteBudget } from './byte-budget.js'
import { classifyFailure } from './classify.js'
import type { BackfillerConfig } from './config.js'
import { ShutdownError } from './errors.js'
import { createRepoIdentityResolver, type RepoIdentityResolver } from './identity.js'
import { createBackfillerMetrics } from './metrics.js'
import { processRepo, type RepoExtractor, type RepoProcessorDeps } from './process-repo.js'
import { HostRateLimiter } from './rate-limit.js'
import { defaultVerifier, type RepoVerifier } from './verifier.js'
import { VerifyPool } from './verify-pool.js'
import { extractRepo } from './verify-worker.js'

export interface BackfillerOverrides {
  verify?: RepoVerifier
  identity?: RepoIdentityResolver
  logger?: Logger
}

export interface Backfiller {
  /** port of the metrics / health server */
  port: number
  workers: StreamWorker[]
  /** true while the read loops go round */
  healthy(): boolean
  /** Stop reading, abort in-flight repos (they stay pending for another instance), flush. Idempotent. */
  close(): Promise<void>
}

export async function startBackfiller(config: BackfillerConfig, overrides: BackfillerOverrides = {}): Promise<Backfiller> {
  const logger = overrides.logger ?? createLogger('backfiller', config.logLevel)
  const redis: RedisClient = createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes, connectionName: `backfiller:${config.consumer}` })
  const registry = createRegistry('backfiller')
  const inStreams = allShards(config.inStream, config.streamShards)
  const outStreams = allShards(config.outStream, config.streamShards)
  const metrics = createBackfillerMetrics(registry, () => ({ redis, inStreams, group: config.group, outStreams }))
  const producer = new StreamProducer({
    redis,
    batchSize: config.batchSize,
    highWaterMark: config.highWaterMark,
    logger: logger.child({ subsystem: 'producer' }),
    metrics: createProducerMetrics(registry, 'backfiller'),
  })
  // every repo in flight may wait for 'drain' at once
  producer.setMaxListeners(config.concurrency + 16)
  const abort = new AbortController()
  // Verify threads unless a verifier is injected (the oracle, the bench baseline) or none are configured.
  const pool = overrides.verify || config.verifyThreads === 0 ? null : new VerifyPool(config.verifyThreads, logger.child({ subsystem: 'verify' }))
  const verify = overrides.verify ?? defaultVerifier
  const yieldNow = () => new Promise<void>((resolve) => setImmediate(resolve))
  const extract: RepoExtractor = pool ? (car, expected) => pool.verify(car, expected) : (car, expected) => extractRepo(verify, car, expected, yieldNow)
  const deps: RepoProcessorDeps = {
    identity: overrides.identity ?? createRepoIdentityResolver({ redis, plcUrl: config.plcUrl, timeoutMs: config.httpTimeoutMs, cacheTtlMs: config.didCacheTtlMs }),
    limiter: new HostRateLimiter(config.hostRps),
    budget: new ByteBudget(config.maxBytesInFlight),
    producer,
    extract,
    metrics,
    logger: logger.child({ subsystem: 'repo' }),
    signal: abort.signal,
    settings: config,
  }

  const handleOne = async (entry: StreamEntry): Promise<Error | null> => {
    metrics.reposRunning.inc()
    if (entry.deliveries > 1) metrics.retriesAttempted.inc()
    const started = Date.now()
    let did: string | undefined
    try {
      const job = decodeRepoJob(entry.fields.repo ?? '')
      did = job.did
      const res = await processRepo(job, entry.deliveries, deps)
      metrics.reposProcessed.inc()
      metrics.recordsExtracted.inc(res.records)
      deps.logger.info({ did, records: res.records, bytes: res.bytes, rev: res.rev, ms: Date.now() - started, attempt: entry.deliveries }, 'repo backfilled')
      return null
    } catch (err) {
      if (err instanceof ShutdownError || abort.signal.aborted) {
        // Leave the entry pending, uncounted: StreamWorker has no "release" result and would
        // dead-letter an entry on its last attempt, so present it as a first delivery. The
        // worker is stopping and does not retry it; Redis keeps the real delivery count.
        entry.deliveries = 0
        return new ShutdownError()
      }
      const e = classifyFailure(err, metrics)
      deps.logger.warn({ did, entry: entry.id, attempt: entry.deliveries, err: e.message }, 'repo failed')
      return e
    } finally {
      metrics.reposRunning.dec()
    }
  }

  const workers = inStreams.map(
    (stream) =>
      new StreamWorker({
        redis,
        stream,
        group: config.group,
        consumer: config.consumer,
        handler: (entries) => Promise.all(entries.map(handleOne)),
        batchSize: 1,
        // BACKFILLER_CONCURRENCY is for the process: split across the input shards
        concurrency: Math.max(1, Math.ceil(config.concurrency / inStreams.length)),
        claimIdleMs: config.claimIdleMs,
        claimIntervalMs: Math.max(100, Math.min(10_000, Math.floor(config.claimIdleMs / 2))),
        maxDeliveries: config.maxRetries + 1,
        retryInitialMs: config.retryInitialMs,
        retryMaxMs: config.retryMaxMs,
        logger: logger.child({ subsystem: 'worker' }),
        metrics: metrics.worker,
      }),
  )

  let http: HttpServer | undefined
  const healthy = () => workers.every((w) => Date.now() - w.lastLoopAt < 60_000)
  try {
    for (const w of workers) await w.start()
    http = await startHttpServer({ port: config.metricsPort, registry, health: healthy, ready: () => pingRedis(redis), logger })
  } catch (err) {
    await Promise.all(workers.map((w) => w.close().catch(() => undefined)))
    await pool?.close()
    redis.disconnect()
    throw err
  }
  logger.info({ consumer: config.consumer, streams: inStreams, group: config.group, concurrency: config.concurrency }, 'backfiller started')

  let closing: Promise<void> | null = null
  const doClose = async () => {
    const stopping = workers.map((w) => w.close())
    abort.abort()
    for (const r of await Promise.allSettled(stopping)) {
      if (r.status === 'rejected') logger.error({ err: String(r.reason) }, 'worker close failed')
    }
    try {
      await pool?.close()
    } catch (err) {
      logger.error({ err: String(err) }, 'verify pool close failed')
    }
    try {
      await producer.close()
    } catch (err) {
      logger.error({ err: String(err) }, 'producer close failed')
    }
    try {
      await http?.close()
    } catch (err) {
      logger.error({ err: String(err) }, 'http close failed')
    }
    try {
      await redis.quit()
    } catch {
      redis.disconnect()
    }
  }
  return {
    port: http.port,
    workers,
    healthy,
    close: () => (closing ??= doClose()),
  }
}
