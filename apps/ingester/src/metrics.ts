/**
 * `ingester_*` metrics. Labels are bounded: `host` is an operator-configured host (cursor form),
 * `type` a known message type or `other`, `stream` a configured stream name. Never a DID.
 */
import { Counter, Gauge, type Registry } from '@firehose/service'
import { createProducerMetrics, type ProducerMetrics, type RedisClient } from '@firehose/streams'

export interface IngesterMetrics {
  frames: Counter<'host' | 'type'>
  eventsWritten: Counter<'stream'>
  decodeErrors: Counter<'host' | 'reason'>
  errorFrames: Counter<'host' | 'error'>
  infoMessages: Counter<'host' | 'name'>
  reconnects: Counter<'host'>
  backfillEnqueued: Counter<'host' | 'reason'>
  lastSeq: Gauge<'host'>
  cursor: Gauge<'host'>
  lagSeconds: Gauge<'host'>
  connected: Gauge<'host'>
  socketPausedSeconds: Counter<'host'>
  producer: ProducerMetrics
}

export function createIngesterMetrics(registry: Registry): IngesterMetrics {
  const registers = [registry]
  return {
    frames: new Counter({ name: 'ingester_frames_received_total', help: 'Frames received, by message type', labelNames: ['host', 'type'], registers }),
    eventsWritten: new Counter({ name: 'ingester_events_written_total', help: 'Entries written to Redis (covered by a cursor write), by stream', labelNames: ['stream'], registers }),
    decodeErrors: new Counter({ name: 'ingester_decode_errors_total', help: 'Frames that could not be decoded and were skipped', labelNames: ['host', 'reason'], registers }),
    errorFrames: new Counter({ name: 'ingester_error_frames_total', help: 'Error frames (op -1) received', labelNames: ['host', 'error'], registers }),
    infoMessages: new Counter({ name: 'ingester_info_messages_total', help: '#info messages received (e.g. OutdatedCursor)', labelNames: ['host', 'name'], registers }),
    reconnects: new Counter({ name: 'ingester_reconnects_total', help: 'Websocket reconnections', labelNames: ['host'], registers }),
    backfillEnqueued: new Counter({ name: 'ingester_backfill_enqueued_total', help: 'Repos enqueued to repo_backfill (sync, undecodable commit, listRepos)', labelNames: ['host', 'reason'], registers }),
    lastSeq: new Gauge({ name: 'ingester_last_seq', help: 'Last seq handled per host', labelNames: ['host'], registers }),
    cursor: new Gauge({ name: 'ingester_cursor', help: 'Last cursor written to Redis per host', labelNames: ['host'], registers }),
    lagSeconds: new Gauge({ name: 'ingester_lag_seconds', help: "Seconds between the last event's time and its processing", labelNames: ['host'], registers }),
    connected: new Gauge({ name: 'ingester_connected', help: '1 while the websocket to the host is open', labelNames: ['host'], registers }),
    socketPausedSeconds: new Counter({ name: 'ingester_socket_paused_seconds_total', help: 'Time the socket was paused for backpressure (high-water mark or Redis down)', labelNames: ['host'], registers }),
    producer: createProducerMetrics(registry, 'ingester'),
  }
}

/** `ingester_stream_length{stream}` (XLEN on scrape, cached 1 s). */
export function registerStreamLengths(registry: Registry, redis: RedisClient, streams: () => string[]): void {
  let cache: { at: number; values: Promise<[string, number][]> } | null = null
  new Gauge({
    name: 'ingester_stream_length',
    help: 'Entries in the output stream (XLEN)',
    labelNames: ['stream'],
    registers: [registry],
    async collect() {
      if (!cache || Date.now() - cache.at > 1000) {
        cache = { at: Date.now(), values: Promise.all(streams().map(async (s): Promise<[string, number]> => [s, await redis.xlen(s)])) }
      }
      const values = await cache.values.catch(() => [] as [string, number][])
      for (const [stream, n] of values) this.set({ stream }, n)
    },
  })
}

/** Known message types as metric label values; anything else is `other`. */
const TYPE_LABELS = new Map(['#commit', '#identity', '#account', '#sync', '#info', '#labels', '#handle', '#tombstone', '#migrate'].map((t) => [t, t.slice(1)]))
export const typeLabel = (t: string): string => TYPE_LABELS.get(t) ?? 'other'

const KNOWN_ERRORS = new Set(['FutureCursor', 'ConsumerTooSlow', 'OutdatedCursor', 'InvalidRequest', 'InternalServerError'])
export const errorLabel = (e: string): string => (KNOWN_ERRORS.has(e) ? e : 'other')
