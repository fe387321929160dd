import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '@firehose/service'
import { readGroups } from './groups.js'

export interface ProducerMetrics {
  entriesWritten: Counter<'stream'>
  writeErrors: Counter<'stream'>
  pausedSeconds: Counter<'stream'>
  batchSeconds: Histogram<'stream'>
}

/** `<prefix>_stream_*` metrics of a producer. */
export function createProducerMetrics(registry: Registry, prefix: string): ProducerMetrics {
  const registers = [registry]
  return {
    entriesWritten: new Counter({
      name: `${prefix}_stream_entries_written_total`,
      help: 'Entries written to Redis streams',
      labelNames: ['stream'],
      registers,
    }),
    writeErrors: new Counter({
      name: `${prefix}_stream_write_errors_total`,
      help: 'Failed XADD batches (retried)',
      labelNames: ['stream'],
      registers,
    }),
    pausedSeconds: new Counter({
      name: `${prefix}_high_water_mark_paused_seconds_total`,
      help: 'Time spent paused with a stream at its high-water mark',
      labelNames: ['stream'],
      registers,
    }),
    batchSeconds: new Histogram({
      name: `${prefix}_stream_write_batch_seconds`,
      help: 'Latency of a pipelined XADD batch',
      labelNames: ['stream'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
  }
}

export interface WorkerMetrics {
  acked: Counter<'stream'>
  failed: Counter<'stream'>
  retried: Counter<'stream'>
  deadLettered: Counter<'stream'>
  reclaimed: Counter<'stream'>
  deletedPending: Counter<'stream'>
  inFlight: Gauge<'stream'>
  handlerSeconds: Histogram<'stream'>
}

/** `<prefix>_stream_*` metrics of consumer-group workers. */
export function createWorkerMetrics(registry: Registry, prefix: string): WorkerMetrics {
  const registers = [registry]
  const c = (name: string, help: string) => new Counter({ name: `${prefix}_stream_${name}_total`, help, labelNames: ['stream'], registers })
  return {
    acked: c('entries_acked', 'Entries acknowledged after their effect was durable'),
    failed: c('entries_failed', 'Handler failures (each attempt)'),
    retried: c('entries_retried', 'Entries redelivered to this consumer for another attempt'),
    deadLettered: c('entries_dead_lettered', 'Entries written to the dead-letter stream'),
    reclaimed: c('entries_reclaimed', 'Entries taken over from idle consumers with XAUTOCLAIM'),
    deletedPending: c('entries_deleted_pending', 'Pending entries whose data was already deleted from the stream'),
    inFlight: new Gauge({ name: `${prefix}_stream_in_flight`, help: 'Entries being handled', labelNames: ['stream'], registers }),
    handlerSeconds: new Histogram({
      name: `${prefix}_stream_handler_seconds`,
      help: 'Latency of one handler call (a batch)',
      labelNames: ['stream'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
  }
}

export interface GroupStats {
  stream: string
  group: string
  length: number
  pending: number
  /** Entries not yet delivered to the group (Redis 7 `lag`); null when Redis cannot tell. */
  lag: number | null
  consumers: number
}

/** XLEN + XINFO GROUPS for one stream's group (zeros when the stream or group is missing). */
export async function readGroupStats(redis: import('./redis.js').RedisClient, stream: string, group: string): Promise<GroupStats> {
  const length = await redis.xlen(stream)
  const groups = await readGroups(redis, stream).catch(() => [])
  const g = groups.find((x) => x.name === group)
  if (g) return { stream, group, length, pending: g.pending, lag: g.lag, consumers: g.consumers }
  return { stream, group, length, pending: 0, lag: null, consumers: 0 }
}

/** Gauges `<prefix>_stream_length`, `_stream_pending`, `_stream_group_lag` refreshed on scrape. */
export function registerGroupGauges(
  registry: Registry,
  prefix: string,
  targets: () => { redis: import('./redis.js').RedisClient; stream: string; group: string }[],
): void {
  const registers = [registry]
  let cache: Promise<GroupStats[]> | null = null
  const load = () => {
    cache ??= Promise.all(targets().map((t) => readGroupStats(t.redis, t.stream, t.group))).finally(() =>
      setTimeout(() => (cache = null), 500),
    )
    return cache
  }
  new Gauge({
    name: `${prefix}_stream_length`,
    help: 'Entries in the stream (XLEN)',
    labelNames: ['stream'],
    registers,
    async collect() {
      for (const s of await load().catch(() => [])) this.set({ stream: s.stream }, s.length)
    },
  })
  new Gauge({
    name: `${prefix}_stream_pending`,
    help: 'Entries delivered to the group and not yet acked',
    labelNames: ['stream', 'group'],
    registers,
    async collect() {
      for (const s of await load().catch(() => [])) this.set({ stream: s.stream, group: s.group }, s.pending)
    },
  })
  new Gauge({
    name: `${prefix}_stream_group_lag`,
    help: 'Entries not yet delivered to the group',
    labelNames: ['stream', 'group'],
    registers,
    async collect() {
      for (const s of await load().catch(() => [])) if (s.lag !== null) this.set({ stream: s.stream, group: s.group }, s.lag)
    },
  })
}
