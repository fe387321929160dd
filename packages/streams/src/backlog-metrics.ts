/**
 * Gauges of what a consumer app's input streams hold, read on scrape: the age of the oldest
 * entry each group of each stream has not acked (every group, ours or not: a group that stopped
 * reading shows as a growing age), and what each stream's dead-letter stream holds.
 */
import { Gauge, type Registry } from '@firehose/service'
import { oldestUnackedAges } from './groups.js'
import { dlqStreamName } from './names.js'
import type { RedisClient } from './redis.js'

interface BacklogSample {
  stream: string
  ages: Map<string, number>
  dlq: string
  dlqEntries: number
  dlqOldestAgeS: number
}

async function sample(redis: RedisClient, stream: string): Promise<BacklogSample> {
  const dlq = dlqStreamName(stream)
  const now = Date.now()
  const [ages, dlqEntries, first] = await Promise.all([
    oldestUnackedAges(redis, stream, now),
    redis.xlen(dlq),
    redis.xrange(dlq, '-', '+', 'COUNT', 1) as Promise<[string, string[]][]>,
  ])
  const firstId = first[0]?.[0]
  const dlqOldestAgeS = firstId ? Math.max(0, (now - Number(firstId.split('-')[0])) / 1000) : 0
  return { stream, ages, dlq, dlqEntries, dlqOldestAgeS }
}

/**
 * `<prefix>_stream_oldest_unacked_age_seconds{stream,group}`, `<prefix>_dlq_entries{stream}` and
 * `<prefix>_dlq_oldest_age_seconds{stream}` (`stream` = the DLQ's name) for `streams()`.
 */
export function registerBacklogGauges(registry: Registry, prefix: string, redis: RedisClient, streams: () => readonly string[]): void {
  const registers = [registry]
  let cache: Promise<BacklogSample[]> | null = null
  const load = () => {
    cache ??= Promise.all(streams().map((s) => sample(redis, s))).finally(() => setTimeout(() => (cache = null), 500))
    return cache.catch(() => [] as BacklogSample[])
  }
  new Gauge({
    name: `${prefix}_stream_oldest_unacked_age_seconds`,
    help: 'Age of the oldest entry a consumer group has not acked (pending, or not yet delivered); 0 when it is caught up. Every group of the stream, ours or not',
    labelNames: ['stream', 'group'],
    registers,
    async collect() {
      this.reset()
      for (const s of await load()) for (const [group, age] of s.ages) this.set({ stream: s.stream, group }, age)
    },
  })
  new Gauge({
    name: `${prefix}_dlq_entries`,
    help: 'Entries in a dead-letter stream (bounded by DLQ_MAX_LENGTH and DLQ_RETENTION_SECS)',
    labelNames: ['stream'],
    registers,
    async collect() {
      for (const s of await load()) this.set({ stream: s.dlq }, s.dlqEntries)
    },
  })
  new Gauge({
    name: `${prefix}_dlq_oldest_age_seconds`,
    help: 'Age of the oldest entry in a dead-letter stream (0 when empty)',
    labelNames: ['stream'],
    registers,
    async collect() {
      for (const s of await load()) this.set({ stream: s.dlq }, s.dlqOldestAgeS)
    },
  })
}
