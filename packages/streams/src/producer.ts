import { EventEmitter } from 'node:events'
import { backoffDelay, sleep, type Logger } from '@firehose/service'
import { readUnconsumed } from './groups.js'
import { errorMessage, type RedisClient } from './redis.js'
import type { ProducerMetrics } from './metrics.js'
import { BatchWriter } from './producer/batch-writer.js'
import type { EntryFields } from './producer/msgpack.js'

export { packEntries, type EntryFields } from './producer/msgpack.js'

export interface ProducerOptions {
  redis: RedisClient
  /** Entries per pipelined XADD batch. */
  batchSize?: number
  /** A partial batch is written after this long. */
  flushIntervalMs?: number
  /**
   * Entries of a stream that no consumer group has acked yet (see `unconsumedOf`) at which
   * writing to that stream pauses and `isFull(stream)` turns true.
   */
  highWaterMark?: number
  /** How often a full stream's backlog is polled. */
  pollIntervalMs?: number
  /** Entries buffered or being written for one stream at which `isFull(stream)` turns true, e.g. while Redis is down. */
  maxBuffered?: number
  retryInitialMs?: number
  retryMaxMs?: number
  logger?: Logger
  metrics?: ProducerMetrics
  /**
   * `script` (default): one EVALSHA per batch, the batch packed into one MessagePack argument
   * (or, where the server's Lua has no cmsgpack, one argument per field); `pipeline`: one
   * pipelined XADD per entry.
   */
  mode?: 'script' | 'pipeline'
}

interface Deferred {
  promise: Promise<void>
  resolve: () => void
}
function deferred(): Deferred {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

export interface AddOptions {
  /**
   * Write even while the stream is at its high-water mark (e.g. the relay's `#sync` jobs: small,
   * rare, and the relay must not stop for `repo_backfill`). These entries go through a lane of
   * their own, in order among themselves.
   */
  overMark?: boolean
}

interface StreamState {
  /** Redis stream. */
  name: string
  /** false for the over-mark lane. */
  gated: boolean
  buffer: EntryFields[]
  /** Resolves when the entries now in `buffer` are in Redis. */
  pending: Deferred
  /** XLEN after the last write. */
  length: number
  /** Entries no group has acked, at the last check (only measured once `length` reaches the mark). */
  unconsumed: number
  /** At the high-water mark: writing waits. */
  atMark: boolean
  /** Entries buffered or being written. */
  buffered: number
  /** What `isFull` last reported (for the full / drain events). */
  wasFull: boolean
  writing: Promise<void> | null
}

/**
 * Batched, pipelined XADD with a high-water mark per stream.
 *
 * `add()` buffers an entry and returns a promise that resolves once that entry is in Redis
 * (one promise per batch, shared): callers move a cursor only after it resolves. When the
 * entries of a stream that no consumer group has acked yet reach the high-water mark, writing
 * to THAT stream pauses (nothing is dropped or trimmed) and `isFull(stream)` is true until its
 * consumers catch up; the writers of that stream stop reading their source meanwhile, so memory
 * stays bounded, and the writers of other streams go on. The cheap check is XLEN (returned by
 * every write): only when the length reaches the mark are the groups asked (XINFO GROUPS).
 * Redis errors are retried forever with backoff; only the entries that failed are rewritten,
 * and a stream's batches are written in order. Events: `full` / `drain` with the stream's name.
 */
export class StreamProducer extends EventEmitter<{ full: [string]; drain: [string] }> {
  readonly batchSize: number
  readonly highWaterMark: number
  private readonly flushIntervalMs: number
  private readonly pollIntervalMs: number
  private readonly maxBuffered: number
  private readonly retryInitialMs: number
  private readonly retryMaxMs: number
  /** By stream name; the over-mark lanes under `overMarkKey(name)`. */
  private readonly streams = new Map<string, StreamState>()
  private timer: NodeJS.Timeout | null = null
  private closed = false
  private readonly abort = new AbortController()
  private readonly writer: BatchWriter

  constructor(private readonly opts: ProducerOptions) {
    super()
    // every caller waiting in waitUntilWritable() listens for 'drain'
    this.setMaxListeners(0)
    this.batchSize = opts.batchSize ?? 500
    this.flushIntervalMs = opts.flushIntervalMs ?? 100
    this.highWaterMark = opts.highWaterMark ?? 1_000_000
    this.pollIntervalMs = opts.pollIntervalMs ?? 250
    this.maxBuffered = opts.maxBuffered ?? this.batchSize * 4
    this.retryInitialMs = opts.retryInitialMs ?? 100
    this.retryMaxMs = opts.retryMaxMs ?? 5000
    this.writer = new BatchWriter({
      redis: opts.redis,
      mode: opts.mode ?? 'script',
      retryInitialMs: this.retryInitialMs,
      retryMaxMs: this.retryMaxMs,
      logger: opts.logger,
      metrics: opts.metrics,
    })
    if (this.batchSize < 1) throw new Error('batchSize must be greater than 0')
    if (this.highWaterMark < 1) throw new Error('highWaterMark must be greater than 0')
  }

  private state(stream: string, gated: boolean): StreamState {
    const key = gated ? stream : overMarkKey(stream)
    let s = this.streams.get(key)
    if (!s) {
      s = {
        name: stream,
        gated,
        buffer: [],
        pending: deferred(),
        length: 0,
        unconsumed: 0,
        atMark: false,
        buffered: 0,
        wasFull: false,
        writing: null,
      }
      this.streams.set(key, s)
    }
    return s
  }

  /** Buffer one entry (flat field/value list); resolves when it is in Redis. */
  add(stream: string, fields: EntryFields, opts: AddOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new Error('producer is closed'))
    const s = this.state(stream, opts.overMark !== true)
    s.buffer.push(fields)
    s.buffered++
    const p = s.pending.promise
    if (s.buffer.length >= this.batchSize) this.kick(s)
    else if (!this.timer) this.timer = setTimeout(() => this.onTimer(), this.flushIntervalMs)
    this.checkFull(s)
    return p
  }

  /**
   * True when one of `streams` (default: any stream written so far) is at its high-water mark or
   * has too much buffered (Redis slow or down).
   */
  isFull(streams?: string | readonly string[]): boolean {
    if (streams === undefined) {
      for (const s of this.streams.values()) if (this.full(s)) return true
      return false
    }
    for (const name of typeof streams === 'string' ? [streams] : streams) {
      const s = this.streams.get(name)
      if (s && this.full(s)) return true
    }
    return false
  }

  /** True when the stream is paused at its high-water mark (not merely buffering). */
  atMark(stream: string): boolean {
    return this.streams.get(stream)?.atMark ?? false
  }

  private full(s: StreamState): boolean {
    return s.atMark || s.buffered >= this.maxBuffered
  }

  /** Resolves once `isFull(streams)` is false (or the producer closes). */
  async waitUntilWritable(streams?: string | readonly string[]): Promise<void> {
    while (this.isFull(streams) && !this.closed) {
      await new Promise<void>((resolve) => {
        const onDrain = () => {
          clearTimeout(t)
          resolve()
        }
        const t = setTimeout(() => {
          this.off('drain', onDrain)
          resolve()
        }, this.pollIntervalMs)
        this.once('drain', onDrain)
      })
    }
  }

  /** Write everything buffered now. */
  async flush(): Promise<void> {
    const waits: Promise<void>[] = []
    for (const s of this.streams.values()) {
      if (s.buffer.length > 0) waits.push(s.pending.promise)
      this.kick(s)
      if (s.writing) waits.push(s.writing)
    }
    await Promise.all(waits)
  }

  /** Flush, then stop. */
  async close(): Promise<void> {
    if (this.closed) return
    await this.flush()
    this.closed = true
    this.abort.abort()
    if (this.timer) clearTimeout(this.timer)
  }

  /** Last known length of a stream (from the last write or poll). */
  lengthOf(stream: string): number {
    return this.streams.get(stream)?.length ?? 0
  }

  /** Entries of the stream no group had acked at the last check (measured from the mark on). */
  unconsumedOf(stream: string): number {
    return this.streams.get(stream)?.unconsumed ?? 0
  }

  private onTimer(): void {
    this.timer = null
    for (const s of this.streams.values()) if (s.buffer.length > 0) this.kick(s)
  }

  private kick(s: StreamState): void {
    if (s.writing || s.buffer.length === 0) return
    s.writing = this.drainStream(s).finally(() => {
      s.writing = null
      if (s.buffer.length > 0 && !this.timer) this.timer = setTimeout(() => this.onTimer(), this.flushIntervalMs)
    })
  }

  /** Write the stream's buffer batch by batch, in order, until it is empty. */
  private async drainStream(s: StreamState): Promise<void> {
    while (s.buffer.length > 0) {
      const batch = s.buffer.splice(0, this.batchSize)
      // Entries added from now on wait for the next batch.
      const done = s.buffer.length === 0 ? s.pending : null
      if (done) s.pending = deferred()
      if (s.gated) await this.waitBelowMark(s)
      await this.writer.write(s.name, batch, (length) => {
        s.length = length
      })
      s.buffered -= batch.length
      this.checkFull(s)
      // A batch split from a larger buffer shares its promise with the rest of that buffer.
      if (done) done.resolve()
    }
  }

  /**
   * Wait while the stream's backlog (entries no group has acked) is at the mark. XLEN bounds the
   * backlog from above, so below the mark in length there is nothing to ask; from there on the
   * groups are asked before each batch, and while paused every `pollIntervalMs`. Once paused,
   * writing resumes a batch below the mark (no flapping at the mark).
   */
  private async waitBelowMark(s: StreamState): Promise<void> {
    if (s.length < this.highWaterMark && !s.atMark) return
    const started = Date.now()
    let attempt = 0
    for (;;) {
      let measured = false
      try {
        const m = await readUnconsumed(this.opts.redis, s.name)
        s.length = m.length
        s.unconsumed = m.unconsumed
        measured = true
        attempt = 0
      } catch (err) {
        this.opts.logger?.warn({ stream: s.name, err: errorMessage(err) }, "reading the stream's backlog failed; retrying")
        attempt++
      }
      const resumeBelow = s.atMark ? Math.max(1, this.highWaterMark - this.batchSize) : this.highWaterMark
      if (measured && s.unconsumed < resumeBelow) break
      if (measured && !s.atMark) {
        s.atMark = true
        this.opts.logger?.warn(
          { stream: s.name, length: s.length, unconsumed: s.unconsumed, highWaterMark: this.highWaterMark },
          'stream at high-water mark: pausing its writers',
        )
        this.checkFull(s)
      }
      await sleep(attempt > 0 ? backoffDelay(attempt, this.retryInitialMs, this.retryMaxMs) : this.pollIntervalMs, this.abort.signal)
    }
    if (s.atMark) {
      s.atMark = false
      const pausedS = (Date.now() - started) / 1000
      this.opts.metrics?.pausedSeconds.inc({ stream: s.name }, pausedS)
      this.opts.logger?.info(
        { stream: s.name, length: s.length, unconsumed: s.unconsumed, pausedS },
        'stream below high-water mark: resuming',
      )
      this.checkFull(s)
    }
  }

  private checkFull(s: StreamState): void {
    if (!s.gated) return
    const full = this.full(s)
    if (full && !s.wasFull) {
      s.wasFull = true
      this.emit('full', s.name)
    } else if (!full && s.wasFull) {
      s.wasFull = false
      this.emit('drain', s.name)
    }
  }
}

/** Map key of a stream's over-mark lane (not a Redis name: no stream is called this). */
const overMarkKey = (stream: string): string => `\u0000over-mark\u0000${stream}`
