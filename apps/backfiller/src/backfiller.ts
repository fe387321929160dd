/**
 * Wiring: Redis, the consumer-group worker on `repo_backfill`, the output producer with its
 * high-water mark, the HTTP server for /metrics, /health, /ready.
 *
 * Retries use the worker's delivery counting (maxDeliveries = BACKFILLER_MAX_RETRIES + 1): a
 * failed repo frees its slot during the backoff, the count lives in Redis so it survives a
 * crash, and the worker writes the DLQ entry (error, attempts, consumer) before acking. 429s are
 * waited out inside the handler and never reach the worker, so they are not attempts.
 */
import { closeOnce, createLogger, createRegistry, settleAll, startHttpServer, type HttpServer, type Logger } from '@firehose/service'
import {
  allShards,
  createProducerMetrics,
  createRedis,
  decodeRepoJob,
  LEAVE_PENDING,
  pingRedis,
  StreamProducer,
  StreamWorker,
  SyncStateStore,
  type EntryResult,
  type RedisClient,
  type StreamEntry,
} from '@firehose/streams'
import { createPeerFetch, createReportedPeerPolicy } from '@firehose/atproto'
import { ByteBudget } from './byte-budget.js'
import { classifyFailure } from './classify.js'
import type { BackfillerConfig } from './config.js'
import { ShutdownError } from './errors.js'
import { createRepoIdentityResolver, type RepoIdentityResolver } from './identity.js'
import { HostBusyError, HostSlots } from './host-slots.js'
import { CrashIsolation } from './isolation.js'
import { createBackfillerMetrics } from './metrics.js'
import { completeRepoSync } from './sync-state.js'
import { processRepo, type RepoExtractor, type RepoProcessorDeps } from './process-repo.js'
import { HostRateLimiter } from './rate-limit.js'
import { defaultVerifier, type RepoVerifier } from './verifier.js'
import { VerifyPool } from './verify-pool.js'
import { extractRepo } from './verify-worker.js'

/** field of a job put back in the queue: the attempts made before (this delivery was not one) */
const PRIOR_ATTEMPTS = 'prior_attempts'

/** A read loop that has not gone round this long turns /health false; twice that, the process exits (70). */
export const BACKFILLER_WATCHDOG_MS = 120_000

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
  const redis: RedisClient = createRedis({
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    connectionName: `backfiller:${config.consumer}`,
  })
  // (without a listener ioredis prints "Unhandled error event" to stderr at each failed
  // reconnect while Redis restarts; commands fail and are retried where they are made)
  redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis error'))
  const registry = createRegistry('backfiller')
  const inStreams = allShards(config.inStream, config.streamShards)
  const outStreams = allShards(config.outStream, config.streamShards)
  const metrics = createBackfillerMetrics(registry, () => ({ redis, inStreams, group: config.group, outStreams }))
  const producer = new StreamProducer({
    redis,
    batchSize: config.chunkSize,
    highWaterMark: config.highWaterMark,
    logger: logger.child({ subsystem: 'producer' }),
    metrics: createProducerMetrics(registry, 'backfiller'),
  })
  // every repo in flight may wait for 'drain' at once
  producer.setMaxListeners(config.reposInFlight + 16)
  const abort = new AbortController()
  // Verify threads unless a verifier is injected (the oracle, the bench baseline) or none are configured.
  const pool =
    overrides.verify || config.verifyThreads === 0 ? null : new VerifyPool(config.verifyThreads, logger.child({ subsystem: 'verify' }))
  const verify = overrides.verify ?? defaultVerifier
  const yieldNow = () => new Promise<void>((resolve) => setImmediate(resolve))
  const extract: RepoExtractor = pool
    ? (car, expected, budget) => pool.verify(car, expected, budget)
    : (car, expected, budget) => extractRepo(verify, car, expected, yieldNow, budget)
  // Every request to a peer (PLC, did:web host, PDS) goes through the outgoing-request policy.
  const policy = createReportedPeerPolicy(config.allowPrivateNetworks, metrics.peerRefused, logger)
  const repoFetch = createPeerFetch(policy, { maxBodyBytes: config.maxRepoBytes })
  const documentFetch = createPeerFetch(policy, { maxBodyBytes: config.maxDocumentBytes })
  const identity =
    overrides.identity ??
    createRepoIdentityResolver({
      redis,
      plcUrl: config.plcUrl,
      timeoutMs: config.httpTimeoutMs,
      cacheTtlMs: config.didCacheTtlMs,
      cacheMaxEntries: config.didCacheMaxEntries,
      fetch: documentFetch,
      onCacheWriteFailed: (err) => {
        metrics.didCacheWriteFailures.inc()
        logger.warn({ err: err.message }, 'DID cache write failed; skipped')
      },
    })
  const deps: RepoProcessorDeps = {
    identity,
    limiter: new HostRateLimiter(config.hostRps),
    hostSlots: new HostSlots(config.hostMaxSlots),
    fetch: repoFetch,
    budget: new ByteBudget(config.maxBytesInFlight),
    producer,
    extract,
    metrics,
    logger: logger.child({ subsystem: 'repo' }),
    signal: abort.signal,
    settings: config,
  }

  const syncCompletion = {
    store: new SyncStateStore({ redis, keyPrefix: config.syncStatePrefix }),
    completed: metrics.resyncsCompleted,
    logger: deps.logger,
  }
  /** Add the job back at the end of its stream (before the entry is acked). */
  const putBack = async (entry: StreamEntry, fields: Record<string, string>): Promise<void> => {
    await redis.xadd(entry.stream, '*', ...Object.entries(fields).flat())
  }
  const isolation = new CrashIsolation({
    redis,
    consumer: config.consumer,
    maxCrashes: config.maxCrashes,
    metrics,
    logger: logger.child({ subsystem: 'isolation' }),
    // The attempt that died with the process is not counted. The entry is acked with the XADD
    // (one transaction, one key): a suspect that kills the process next must not leave it pending.
    putBack: async (entry, fields) => {
      const all = { ...fields, [PRIOR_ATTEMPTS]: String(Math.max(0, entry.deliveries - 2)) }
      const res = await redis
        .multi()
        .xadd(entry.stream, '*', ...Object.entries(all).flat())
        .xack(entry.stream, config.group, entry.id)
        .exec()
      const failed = res?.find((r) => r[0])
      if (!res || failed) throw failed?.[0] ?? new Error('transaction aborted')
    },
    // a suspect may kill the process: what the others finished must be acked first
    flushAcks: () => Promise.all(workers.map((w) => w.flushAcks())).then(() => undefined),
  })

  /**
   * A job put back in the queue (host share, crash) carries the attempts it had made before;
   * its DID, when the job decodes (else reported by the attempt itself).
   */
  const prepare = (entry: StreamEntry): string | undefined => {
    entry.deliveries += Number(entry.fields[PRIOR_ATTEMPTS] ?? 0) || 0
    try {
      return decodeRepoJob(entry.fields.repo ?? '').did
    } catch {
      return undefined
    }
  }

  /**
   * An entry the worker found delivered too often: if the process died while it ran (its run
   * marker), that death was not its attempt (another repo's crash may have taken its last
   * one): crash isolation decides, as for any reclaimed entry. Otherwise dead-lettered.
   */
  const onExhausted = async (entry: StreamEntry): Promise<Error | null | undefined> => {
    const did = prepare(entry)
    const verdict = await isolation.lane.around(() => isolation.check(entry, did))
    return verdict.run ? undefined : verdict.result
  }

  const handleOne = async (entry: StreamEntry): Promise<EntryResult> => {
    const did = prepare(entry)
    let alone: boolean
    try {
      const verdict = await isolation.lane.around(() => isolation.check(entry, did))
      if (!verdict.run) return verdict.result
      alone = verdict.alone
      // marked before waiting for the lane: a death while it waits is not its fault either
      await isolation.mark(entry, false)
    } catch (err) {
      deps.logger.warn({ did, entry: entry.id, err: (err as Error).message }, 'run marker failed')
      return new Error(`run marker failed: ${(err as Error).message}`)
    }
    const release = await isolation.lane.acquire(alone)
    try {
      if (alone && !abort.signal.aborted) {
        await isolation.mark(entry, true)
        await isolation.flushAcks()
        metrics.reposIsolated.inc()
        deps.logger.warn({ did, entry: entry.id }, 'running a repo alone: it was in flight when a backfiller process died')
      }
      return await attempt(entry)
    } catch (err) {
      return new Error(`run marker failed: ${(err as Error).message}`)
    } finally {
      await isolation.clear(entry)
      release()
    }
  }

  const attempt = async (entry: StreamEntry): Promise<EntryResult> => {
    metrics.reposRunning.inc()
    if (entry.deliveries > 1) metrics.retriesAttempted.inc()
    const started = Date.now()
    let did: string | undefined
    try {
      if (abort.signal.aborted) throw new ShutdownError()
      const job = decodeRepoJob(entry.fields.repo ?? '')
      did = job.did
      if (did === config.testCrashOnDid) process.kill(process.pid, 'SIGKILL')
      const res = await processRepo(job, entry.deliveries, deps)
      await completeRepoSync(syncCompletion, did, res.rev, res.data)
      metrics.reposProcessed.inc()
      metrics.recordsExtracted.inc(res.records)
      deps.logger.info(
        { did, records: res.records, bytes: res.bytes, rev: res.rev, ms: Date.now() - started, attempt: entry.deliveries },
        'repo backfilled',
      )
      return null
    } catch (err) {
      if (err instanceof ShutdownError || abort.signal.aborted) {
        // Not the repo's fault: the entry stays pending, its attempt not counted, for a restart
        // or another instance.
        return LEAVE_PENDING
      }
      if (err instanceof HostBusyError) {
        // Not an attempt: the job goes to the back of the queue (added before this entry is acked).
        try {
          await putBack(entry, { ...entry.fields, [PRIOR_ATTEMPTS]: String(entry.deliveries - 1) })
        } catch (e) {
          return new Error(`could not put the job back: ${(e as Error).message}`)
        }
        metrics.hostShareDeferred.inc()
        deps.logger.debug({ did, host: err.host }, 'host holds its share of slots: job put back in the queue')
        return null
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
        // BACKFILLER_REPOS_IN_FLIGHT is for the process: split across the input shards
        concurrency: Math.max(1, Math.ceil(config.reposInFlight / inStreams.length)),
        claimIdleMs: config.claimIdleMs,
        claimIntervalMs: Math.max(100, Math.min(10_000, Math.floor(config.claimIdleMs / 2))),
        maxDeliveries: config.maxRetries + 1,
        onExhausted,
        retryInitialMs: config.retryInitialMs,
        retryMaxMs: config.retryMaxMs,
        // bounded: what every group acked is trimmed, the DLQ kept to its retention
        trimIntervalMs: config.trimIntervalMs,
        dlqMaxAgeMs: config.dlqRetentionMs,
        dlqMaxLength: config.dlqMaxLength,
        logger: logger.child({ subsystem: 'worker' }),
        metrics: metrics.worker,
      }),
  )

  let http: HttpServer | undefined
  const healthy = () => workers.every((w) => Date.now() - w.lastLoopAt < BACKFILLER_WATCHDOG_MS)
  try {
    for (const w of workers) await w.start()
    http = await startHttpServer({
      port: config.metricsPort,
      host: config.metricsHost,
      registry,
      health: healthy,
      ready: () => pingRedis(redis),
      logger,
    })
  } catch (err) {
    await Promise.all(workers.map((w) => w.close().catch(() => undefined)))
    await pool?.close()
    redis.disconnect()
    throw err
  }
  logger.info(
    { consumer: config.consumer, streams: inStreams, group: config.group, reposInFlight: config.reposInFlight },
    'backfiller started',
  )

  return {
    port: http.port,
    workers,
    healthy,
    close: closeOnce(logger, () => {
      // the workers stop reading first; in-flight repos are then aborted (they stay pending)
      const stopping = settleAll(workers.map((w) => w.close()))
      abort.abort()
      return [
        { name: 'stream workers', run: () => stopping },
        pool && { name: 'verify pool', run: () => pool.close() },
        { name: 'producer', run: () => producer.close() },
        { name: 'http server', run: () => http?.close() },
        { name: 'redis', run: () => redis.quit().catch(() => redis.disconnect()) },
      ]
    }),
  }
}
