/**
 * The ingester: one subscription per relay and labeler host into one batched producer, repo
 * discovery when enabled, and the metrics / health / readiness server.
 *
 * Backpressure: when the producer is full (a stream at its high-water mark, or too much buffered
 * while Redis is down) every socket is paused; nothing is dropped and no cursor moves past an
 * entry that is not in Redis. Sockets resume when the producer drains.
 */
import { backoffDelay, createLogger, createRegistry, sleep, startHttpServer, Watchdog, type HttpServer, type Logger, type Registry } from '@firehose/service'
import { allShards, createRedis, pingRedis, StreamProducer, type RedisClient } from '@firehose/streams'
import type { IngesterConfig } from './config.js'
import type { HostContext, HostStream } from './host-stream.js'
import { LabelerStream } from './labeler.js'
import { listReposInto } from './list-repos.js'
import { createIngesterMetrics, registerStreamLengths } from './metrics.js'
import { RelayStream, type FirehoseDecoder } from './relay.js'

export interface IngesterDeps {
  logger?: Logger
  registry?: Registry
  /** An existing client (not closed by the ingester); by default one is created from the config. */
  redis?: RedisClient
  /** Frame decoder for relays (the bench swaps in a baseline); default `@firehose/atproto`'s. */
  decodeFirehoseFrame?: FirehoseDecoder
  /** Set false to skip the HTTP server (default true). */
  http?: boolean
  /** Liveness watchdog stall time (default 60 s). */
  watchdogMs?: number
}

export interface Ingester {
  readonly registry: Registry
  readonly producer: StreamProducer
  readonly hosts: readonly HostStream[]
  /** Port of the metrics / health server, when started. */
  readonly port: number | undefined
  /** Redis answers and every host's socket is open. */
  ready(): Promise<boolean>
  /** Idempotent: close sockets, flush the producer, write final cursors, close Redis. */
  close(): Promise<void>
}

export async function startIngester(config: IngesterConfig, deps: IngesterDeps = {}): Promise<Ingester> {
  const logger = deps.logger ?? createLogger('ingester', config.logLevel)
  const registry = deps.registry ?? createRegistry('ingester')
  const metrics = createIngesterMetrics(registry)
  const ownRedis = !deps.redis
  const redis = deps.redis ?? createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes, connectionName: 'ingester' })
  if (ownRedis) {
    // without a listener ioredis prints every failed reconnect; log them, at most every 5 s
    let lastLog = 0
    redis.on('error', (err: Error) => {
      if (Date.now() - lastLog < 5000) return
      lastLog = Date.now()
      logger.warn({ err: err.message }, 'redis connection error (retrying)')
    })
  }
  const producer = new StreamProducer({
    redis,
    batchSize: config.batchSize,
    flushIntervalMs: config.batchTimeoutMs,
    highWaterMark: config.highWaterMark,
    logger: logger.child({ subsystem: 'producer' }),
    metrics: metrics.producer,
  })
  const ctx: HostContext = { config, redis, producer, metrics, logger }
  const relays = config.relayHosts.map((h) => new RelayStream(ctx, h, deps.decodeFirehoseFrame))
  const labelers = config.labelerHosts.map((h) => new LabelerStream(ctx, h))
  const hosts: HostStream[] = [...relays, ...labelers]

  producer.on('full', (stream) => {
    // 'buffer' = more buffered than one pipeline holds (normal flow control, or Redis down);
    // otherwise a stream is at its high-water mark
    if (stream === 'buffer') logger.debug('producer buffer full: pausing every socket')
    else logger.warn({ stream }, 'stream at its high-water mark: pausing every socket')
    for (const h of hosts) h.pause()
  })
  producer.on('drain', () => {
    logger.debug('producer writable: resuming sockets')
    for (const h of hosts) h.resume()
  })

  const outputStreams = (): string[] => [
    ...(relays.length > 0 ? allShards(config.firehoseStream, config.streamShards) : []),
    ...(labelers.length > 0 ? [config.labelStream] : []),
    ...allShards(config.repoStream, config.streamShards),
  ]
  registerStreamLengths(registry, redis, outputStreams)

  // health and metrics first: reading the stored cursors waits for Redis if it is not up yet
  const ready = async (): Promise<boolean> => (await pingRedis(redis)) && hosts.every((h) => h.connected)
  const watchdog = new Watchdog(deps.watchdogMs ?? 60_000, logger)
  const beat = setInterval(() => watchdog.beat(), 1000)
  watchdog.start()
  let http: HttpServer | undefined
  if (deps.http !== false) {
    http = await startHttpServer({ port: config.metricsPort, registry, health: watchdog.healthy, ready, logger })
  }

  for (const h of hosts) await h.start()

  const abort = new AbortController()
  const listings = config.backfillRepos
    ? config.relayHosts.map((host) => listWithRetry(ctx, host, abort.signal))
    : []

  let closing: Promise<void> | null = null
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const step = async (what: string, fn: () => Promise<unknown>) => {
        try {
          await fn()
        } catch (err) {
          logger.error({ err, step: what }, 'close step failed')
        }
      }
      abort.abort()
      await step('sockets', () => Promise.all(hosts.map((h) => h.close())))
      await step('listRepos', () => Promise.all(listings))
      await step('producer', () => producer.close())
      await step('cursors', () => Promise.all(hosts.map((h) => h.closeCursor())))
      clearInterval(beat)
      watchdog.stop()
      if (http) await step('http', () => http.close())
      if (ownRedis) await step('redis', () => redis.quit())
      logger.info('ingester closed')
    })()
    return closing
  }

  logger.info(
    { relays: config.relayHosts, labelers: config.labelerHosts, backfillRepos: config.backfillRepos, highWaterMark: config.highWaterMark, batchSize: config.batchSize },
    'ingester started',
  )
  return { registry, producer, hosts, port: http?.port, ready, close }
}

/** listReposInto, restarted with backoff if Redis fails under it, until done or aborted. */
async function listWithRetry(ctx: HostContext, host: string, signal: AbortSignal): Promise<void> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      await listReposInto(ctx, host, { signal })
      return
    } catch (err) {
      const delay = backoffDelay(attempt, ctx.config.reconnectInitialMs, ctx.config.reconnectMaxMs)
      ctx.logger.warn({ host, err: (err as Error).message, delayMs: delay }, 'repo listing failed; restarting')
      await sleep(delay, signal)
    }
  }
}
