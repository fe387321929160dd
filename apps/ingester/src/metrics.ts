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
  invalidOps: Counter<'host' | 'reason'>
  labelsRefused: Counter<'host' | 'reason'>
  labelKeyErrors: Counter<'host'>
  oversizedFrames: Counter<'host'>
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
  sync: SyncMetrics
}

/** sync 1.1 verification (verify/); `reason` is a `CommitRefusalReason` or one of verify/commit-gate.ts's */
export interface SyncMetrics {
  commitsVerified: Counter<'host'>
  commitsRefused: Counter<'host' | 'reason'>
  commitsDropped: Counter<'host' | 'reason'>
  commitsRewritten: Counter<'host'>
  desynchronizedWritten: Counter<'host'>
  reposDesynchronized: Counter<'host' | 'reason'>
  resyncsEnqueued: Counter<'host' | 'reason'>
  keyResolutions: Counter<'outcome'>
}

export function createIngesterMetrics(registry: Registry): IngesterMetrics {
  const registers = [registry]
  return {
    frames: new Counter({
      name: 'ingester_frames_received_total',
      help: 'Frames received, by message type',
      labelNames: ['host', 'type'],
      registers,
    }),
    eventsWritten: new Counter({
      name: 'ingester_events_written_total',
      help: 'Entries written to Redis (covered by a cursor write), by stream',
      labelNames: ['stream'],
      registers,
    }),
    decodeErrors: new Counter({
      name: 'ingester_decode_errors_total',
      help: 'Frames that could not be decoded and were skipped',
      labelNames: ['host', 'reason'],
      registers,
    }),
    invalidOps: new Counter({
      name: 'ingester_invalid_ops_total',
      help: 'Ops (or whole messages) dropped for their syntax: invalid-did, invalid-rev, invalid-collection, invalid-rkey',
      labelNames: ['host', 'reason'],
      registers,
    }),
    labelsRefused: new Counter({
      name: 'ingester_labels_refused_total',
      help: 'Labels refused: src-mismatch, bad-cts, future-cts, no-signature, bad-signature',
      labelNames: ['host', 'reason'],
      registers,
    }),
    labelKeyErrors: new Counter({
      name: 'ingester_label_key_errors_total',
      help: "Failed lookups of a labeler's #atproto_label key (its labels wait, the lookup is retried)",
      labelNames: ['host'],
      registers,
    }),
    oversizedFrames: new Counter({
      name: 'ingester_oversized_frames_total',
      help: 'Websocket messages past INGESTER_MAX_FRAME_BYTES (connection closed, resumed from the cursor)',
      labelNames: ['host'],
      registers,
    }),
    errorFrames: new Counter({
      name: 'ingester_error_frames_total',
      help: 'Error frames (op -1) received',
      labelNames: ['host', 'error'],
      registers,
    }),
    infoMessages: new Counter({
      name: 'ingester_info_messages_total',
      help: '#info messages received (e.g. OutdatedCursor)',
      labelNames: ['host', 'name'],
      registers,
    }),
    reconnects: new Counter({ name: 'ingester_reconnects_total', help: 'Websocket reconnections', labelNames: ['host'], registers }),
    backfillEnqueued: new Counter({
      name: 'ingester_backfill_enqueued_total',
      help: 'Repos enqueued to repo_backfill (sync, undecodable commit, listRepos)',
      labelNames: ['host', 'reason'],
      registers,
    }),
    lastSeq: new Gauge({ name: 'ingester_last_seq', help: 'Last seq handled per host', labelNames: ['host'], registers }),
    cursor: new Gauge({ name: 'ingester_cursor', help: 'Last cursor written to Redis per host', labelNames: ['host'], registers }),
    lagSeconds: new Gauge({
      name: 'ingester_lag_seconds',
      help: "Seconds between the last event's time and its processing",
      labelNames: ['host'],
      registers,
    }),
    connected: new Gauge({
      name: 'ingester_connected',
      help: '1 while the websocket to the host is open',
      labelNames: ['host'],
      registers,
    }),
    socketPausedSeconds: new Counter({
      name: 'ingester_socket_paused_seconds_total',
      help: 'Time the socket was paused for backpressure (high-water mark or Redis down)',
      labelNames: ['host'],
      registers,
    }),
    producer: createProducerMetrics(registry, 'ingester'),
    sync: {
      commitsVerified: new Counter({
        name: 'ingester_commits_verified_total',
        help: '#commit messages that passed sync 1.1 verification and moved the repo state on',
        labelNames: ['host'],
        registers,
      }),
      commitsRefused: new Counter({
        name: 'ingester_commits_refused_total',
        help: '#commit / #sync messages refused by verification (never written), by reason',
        labelNames: ['host', 'reason'],
        registers,
      }),
      commitsDropped: new Counter({
        name: 'ingester_commits_dropped_total',
        help: 'Verified-or-not #commit messages not written: repo desynchronized, or already written via another relay (duplicate)',
        labelNames: ['host', 'reason'],
        registers,
      }),
      commitsRewritten: new Counter({
        name: 'ingester_commits_rewritten_total',
        help: 'Copies of #commit messages written although the repo state was past them: the ingester that moved the state never confirmed writing the commit (killed between the two)',
        labelNames: ['host'],
        registers,
      }),
      desynchronizedWritten: new Counter({
        name: 'ingester_desynchronized_commits_written_total',
        help: 'Commits of desynchronized repos written while their resync runs: verified on their own (signature, proof) and chained onto each other, so the resync completes at the newest of them',
        labelNames: ['host'],
        registers,
      }),
      reposDesynchronized: new Counter({
        name: 'ingester_repos_desynchronized_total',
        help: 'Repos marked desynchronized (a break in their commit chain), by reason',
        labelNames: ['host', 'reason'],
        registers,
      }),
      resyncsEnqueued: new Counter({
        name: 'ingester_resyncs_enqueued_total',
        help: 'Resync (repo backfill) jobs enqueued by verification, by reason',
        labelNames: ['host', 'reason'],
        registers,
      }),
      keyResolutions: new Counter({
        name: 'ingester_signing_key_resolutions_total',
        help: 'DID document look-ups for signing keys, by outcome (ok, error)',
        labelNames: ['outcome'],
        registers,
      }),
    },
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
const TYPE_LABELS = new Map(
  ['#commit', '#identity', '#account', '#sync', '#info', '#labels', '#handle', '#tombstone', '#migrate'].map((t) => [t, t.slice(1)]),
)
export const typeLabel = (t: string): string => TYPE_LABELS.get(t) ?? 'other'

const KNOWN_ERRORS = new Set(['FutureCursor', 'ConsumerTooSlow', 'OutdatedCursor', 'InvalidRequest', 'InternalServerError'])
export const errorLabel = (e: string): string => (KNOWN_ERRORS.has(e) ? e : 'other')
