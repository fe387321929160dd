/**
 * The ingester: one subscription per relay and labeler host into one batched producer, repo
 * discovery when enabled, and the metrics / health / readiness server.
 *
 * Backpressure, per stream: when a stream is full (its backlog at the high-water mark, or too
 * much buffered while Redis is down) only the hosts writing to it are paused — relays for the
 * firehose shards, labelers for the label shards, the listRepos listing for the repo shards.
 * `#sync` jobs pass the mark (see relay.ts), so a full `repo_backfill` never stops a relay.
 * Nothing is dropped and no cursor moves past an entry that is not in Redis.
 */
import {
  backoffDelay,
  closeOnce,
  createLogger,
  createRegistry,
  settleAll,
  sleep,
  startHttpServer,
  type HttpServer,
  type Logger,
  type Registry,
} from '@firehose/service'
import { allShards, createRedis, pingRedis, StreamProducer, type RedisClient } from '@firehose/streams'
import type { IngesterConfig } from './config.js'
import type { HostContext, HostStream } from './host-stream.js'
import { plcKeyResolver, type KeyResolver } from './verify/signing-keys.js'
import { LabelerStream } from './labeler.js'
import { listReposInto } from './list-repos.js'
import { createIngesterPeerFetch } from './peer-fetch.js'
import { createIngesterMetrics, registerStreamLengths } from './metrics.js'
import { RelayStream, type FirehoseDecoder } from './relay.js'
import { createSyncVerification } from './verify/setup.js'

export interface IngesterDeps {
  logger?: Logger
  registry?: Registry
  /** An existing client (not closed by the ingester); by default one is created from the config. */
  redis?: RedisClient
  /** Frame decoder for relays (the bench swaps in a baseline); default `@firehose/atproto`'s. */
  decodeFirehoseFrame?: FirehoseDecoder
  /** Set false to skip the HTTP server (default true). */
  http?: boolean
  /** Signing keys of repos (default: DID documents from PLC_URL / did:web). */
  keyResolver?: KeyResolver
}

export interface Ingester {
  readonly registry: Registry
  readonly producer: StreamProducer
  readonly hosts: readonly HostStream[]
  /** Port of the metrics / health server, when started. */
  readonly port: number | undefined
  /** Redis answers and every host's socket is open. */
  ready(): Promise<boolean>
  /**
   * Liveness (`/health`, the watchdog's beat): true until closed. The ingester has no read loop
   * of its own: sockets detect their stalls (INGESTER_STALL_TIMEOUT_MS) and reconnect, the
   * producer retries its writes; what the watchdog sees here is that the event loop turns.
   */
  healthy(): boolean
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
    batchSize: config.writeBatch,
    flushIntervalMs: config.batchTimeoutMs,
    highWaterMark: config.highWaterMark,
    logger: logger.child({ subsystem: 'producer' }),
    metrics: metrics.producer,
  })
  const peerFetch = createIngesterPeerFetch(config.allowPrivateNetworks, registry, logger)
  const sync = createSyncVerification(config, redis, metrics, deps.keyResolver ?? plcKeyResolver(config.plcUrl, peerFetch.documents))
  const ctx: HostContext = { config, redis, producer, metrics, logger, documentFetch: peerFetch.documents, ...(sync ? { sync } : {}) }
  const relays = config.relayHosts.map((h) => new RelayStream(ctx, h, deps.decodeFirehoseFrame))
  const labelers = config.labelerHosts.map((h) => new LabelerStream(ctx, h))
  const hosts: HostStream[] = [...relays, ...labelers]
  const firehoseStreams = allShards(config.firehoseStream, config.streamShards)
  const labelStreams = allShards(config.labelStream, config.streamShards)
  // the streams whose fullness pauses a host (a relay's #sync jobs pass the mark of repo_backfill)
  const pausedBy = new Map<HostStream, string[]>([
    ...relays.map((h) => [h, firehoseStreams] as [HostStream, string[]]),
    ...labelers.map((h) => [h, labelStreams] as [HostStream, string[]]),
  ])
  const applyBackpressure = () => {
    for (const [h, streams] of pausedBy) {
      if (producer.isFull(streams)) h.pause()
      else h.resume()
    }
  }
  producer.on('full', (stream) => {
    // without the mark: more buffered than a few batches (normal flow control, or Redis down)
    if (producer.atMark(stream))
      logger.warn({ stream, highWaterMark: config.highWaterMark }, 'stream at its high-water mark: pausing its writers')
    else logger.debug({ stream }, 'producer buffer full for a stream: pausing its writers')
    applyBackpressure()
  })
  producer.on('drain', (stream) => {
    logger.debug({ stream }, 'stream writable: resuming its writers')
    applyBackpressure()
  })

  const outputStreams = (): string[] => [
    ...(relays.length > 0 ? firehoseStreams : []),
    ...(labelers.length > 0 ? labelStreams : []),
    ...allShards(config.repoStream, config.streamShards),
  ]
  registerStreamLengths(registry, redis, outputStreams)

  // health and metrics first: reading the stored cursors waits for Redis if it is not up yet
  const ready = async (): Promise<boolean> => (await pingRedis(redis)) && hosts.every((h) => h.connected)
  let closed = false
  const healthy = (): boolean => !closed
  let http: HttpServer | undefined
  if (deps.http !== false) {
    http = await startHttpServer({ port: config.metricsPort, host: config.metricsHost, registry, health: healthy, ready, logger })
  }

  for (const h of hosts) await h.start()

  const abort = new AbortController()
  const listings = config.backfillRepos ? config.relayHosts.map((host) => listWithRetry(ctx, host, abort.signal, peerFetch.listRepos)) : []

  const close = closeOnce(logger, () => {
    closed = true
    abort.abort()
    return [
      { name: 'sockets', run: () => settleAll(hosts.map((h) => h.close())) },
      { name: 'listRepos', run: () => settleAll(listings) },
      { name: 'producer', run: () => producer.close() },
      { name: 'cursors', run: () => settleAll(hosts.map((h) => h.closeCursor())) },
      http && { name: 'http server', run: () => http?.close() },
      ownRedis && { name: 'redis', run: () => redis.quit() },
    ]
  })

  logger.info(
    {
      relays: config.relayHosts,
      labelers: config.labelerHosts,
      backfillRepos: config.backfillRepos,
      highWaterMark: config.highWaterMark,
      writeBatch: config.writeBatch,
      verify: config.verify,
    },
    'ingester started',
  )
  return { registry, producer, hosts, port: http?.port, ready, healthy, close }
}

/** listReposInto, restarted with backoff if Redis fails under it, until done or aborted. */
async function listWithRetry(ctx: HostContext, host: string, signal: AbortSignal, fetch: typeof globalThis.fetch): Promise<void> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      await listReposInto(ctx, host, { signal, fetch })
      return
    } catch (err) {
      const delay = backoffDelay(attempt, ctx.config.reconnectInitialMs, ctx.config.reconnectMaxMs)
      ctx.logger.warn({ host, err: (err as Error).message, delayMs: delay }, 'repo listing failed; restarting')
      await sleep(delay, signal)
    }
  }
}
