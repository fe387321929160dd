import type { Logger } from '@firehose/service'
import type { WorkerMetrics } from '../metrics.js'
import { dlqStreamName } from '../names.js'
import type { RedisClient } from '../redis.js'
import type { BatchHandler, StreamEntry } from './entry.js'

export interface StreamWorkerOptions {
  redis: RedisClient
  stream: string
  group: string
  consumer: string
  handler: BatchHandler
  /** Entries per handler call (and unit of XREADGROUP COUNT). */
  batchSize?: number
  /** Handler calls in flight at once. */
  concurrency?: number
  blockMs?: number
  /** Entries idle this long on any consumer are taken over (must exceed the slowest handler). */
  claimIdleMs?: number
  claimIntervalMs?: number
  /** An entry gets at most this many attempts, then goes to the dead-letter stream. */
  maxDeliveries?: number
  retryInitialMs?: number
  retryMaxMs?: number
  /** XDEL acked entries (the stream then holds only unprocessed work). */
  deleteOnAck?: boolean
  ackIntervalMs?: number
  ackBatchSize?: number
  dlqStream?: string
  /**
   * Every this many ms, trim from the stream what every group has acked, and apply the DLQ's
   * retention (0: never).
   */
  trimIntervalMs?: number
  /** Dead letters older than this are trimmed (0: kept whatever their age). */
  dlqMaxAgeMs?: number
  /** At most this many dead letters are kept, the newest (0: no limit). */
  dlqMaxLength?: number
  /** Upper bound of one XREADGROUP COUNT. */
  maxReadCount?: number
  /**
   * Asked first about an entry found delivered more than `maxDeliveries` times (it came back
   * through reclaim or a restart: its last delivery ended without a result, e.g. the process
   * died). `null`: the caller took care of it (put it back, say): acked, no dead letter; an
   * Error: dead-lettered with that error; undefined (or a throw): dead-lettered as usual.
   */
  onExhausted?: (entry: StreamEntry) => Promise<Error | null | undefined>
  logger?: Logger
  metrics?: WorkerMetrics
}

/** The options with their defaults applied. */
export type WorkerSettings = Required<Omit<StreamWorkerOptions, 'logger' | 'metrics' | 'dlqStream' | 'onExhausted'>> &
  Pick<StreamWorkerOptions, 'logger' | 'metrics' | 'onExhausted'> & { dlqStream: string }

/** Merge the defaults in and validate; throws naming the bad option. */
export function workerSettings(opts: StreamWorkerOptions): WorkerSettings {
  const o: WorkerSettings = {
    batchSize: 100,
    concurrency: 10,
    blockMs: 1000,
    claimIdleMs: 60_000,
    claimIntervalMs: 10_000,
    maxDeliveries: 5,
    retryInitialMs: 500,
    retryMaxMs: 30_000,
    deleteOnAck: false,
    ackIntervalMs: 50,
    ackBatchSize: 500,
    trimIntervalMs: 0,
    dlqMaxAgeMs: 0,
    dlqMaxLength: 0,
    maxReadCount: 5000,
    ...opts,
    dlqStream: opts.dlqStream ?? dlqStreamName(opts.stream),
  }
  if (o.batchSize < 1) throw new Error('batchSize must be greater than 0')
  if (o.concurrency < 1) throw new Error('concurrency must be greater than 0')
  if (o.maxDeliveries < 1) throw new Error('maxDeliveries must be greater than 0')
  if (o.claimIdleMs < 100) throw new Error('claimIdleMs must be at least 100')
  if (!o.consumer) throw new Error('consumer must be set')
  return o
}
