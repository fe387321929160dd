import { EventEmitter } from 'node:events'
import { backoffDelay, sleep, type Logger } from '@firehose/service'
import { errorMessage, type RedisClient } from './redis.js'
import type { ProducerMetrics } from './metrics.js'

export interface ProducerOptions {
  redis: RedisClient
  /** Entries per pipelined XADD batch. */
  batchSize?: number
  /** A partial batch is written after this long. */
  flushIntervalMs?: number
  /** Stream length at which writing pauses and `isFull()` turns true. */
  highWaterMark?: number
  /** How often a full stream's length is polled. */
  pollIntervalMs?: number
  /** Buffered entries (all streams) at which `isFull()` turns true, e.g. while Redis is down. */
  maxBuffered?: number
  retryInitialMs?: number
  retryMaxMs?: number
  logger?: Logger
  metrics?: ProducerMetrics
  /** `script` (default): one EVALSHA per batch; `pipeline`: one pipelined XADD per entry. */
  mode?: 'script' | 'pipeline'
}

const XADD_BATCH = 'firehoseXaddBatch'
type ScriptClient = Record<typeof XADD_BATCH, (key: string, ...args: (string | Buffer)[]) => Promise<unknown>>
// ARGV: for each entry, its field count then its fields and values.
const XADD_BATCH_LUA = `
local i = 1
local n = #ARGV
while i <= n do
  local c = tonumber(ARGV[i])
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + c))
  i = i + c + 1
end
return redis.call('XLEN', KEYS[1])`

function defineXaddBatch(redis: RedisClient): void {
  if (typeof (redis as unknown as Partial<ScriptClient>)[XADD_BATCH] === 'function') return
  redis.defineCommand(XADD_BATCH, { numberOfKeys: 1, lua: XADD_BATCH_LUA })
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

/** An entry's fields and values, flat; a value may be a Buffer (written as its bytes). */
export type EntryFields = readonly (string | Buffer)[]

interface StreamState {
  name: string
  buffer: EntryFields[]
  /** Resolves when the entries now in `buffer` are in Redis. */
  pending: Deferred
  length: number
  full: boolean
  writing: Promise<void> | null
}

/**
 * Batched, pipelined XADD with a high-water mark.
 *
 * `add()` buffers an entry and returns a promise that resolves once that entry is in Redis
 * (one promise per batch, shared): callers move a cursor only after it resolves. When a target
 * stream reaches the high-water mark, writing pauses (nothing is dropped or trimmed) and
 * `isFull()` is true until the stream drains; callers stop reading their source meanwhile, so
 * memory stays bounded. Redis errors are retried forever with backoff; only the entries that
 * failed are rewritten, and a stream's batches are written in order.
 */
export class StreamProducer extends EventEmitter<{ full: [string]; drain: [] }> {
  readonly batchSize: number
  readonly highWaterMark: number
  private readonly flushIntervalMs: number
  private readonly pollIntervalMs: number
  private readonly maxBuffered: number
  private readonly retryInitialMs: number
  private readonly retryMaxMs: number
  private readonly streams = new Map<string, StreamState>()
  private timer: NodeJS.Timeout | null = null
  private buffered = 0
  private wasFull = false
  private closed = false
  private readonly abort = new AbortController()
  private useScript: boolean

  constructor(private readonly opts: ProducerOptions) {
    super()
    this.useScript = opts.mode !== 'pipeline'
    if (this.useScript) defineXaddBatch(opts.redis)
    // every caller waiting in waitUntilWritable() listens for 'drain'
    this.setMaxListeners(0)
    this.batchSize = opts.batchSize ?? 500
    this.flushIntervalMs = opts.flushIntervalMs ?? 100
    this.highWaterMark = opts.highWaterMark ?? 1_000_000
    this.pollIntervalMs = opts.pollIntervalMs ?? 250
    this.maxBuffered = opts.maxBuffered ?? this.batchSize * 4
    this.retryInitialMs = opts.retryInitialMs ?? 100
    this.retryMaxMs = opts.retryMaxMs ?? 5000
    if (this.batchSize < 1) throw new Error('batchSize must be greater than 0')
    if (this.highWaterMark < 1) throw new Error('highWaterMark must be greater than 0')
  }

  private state(stream: string): StreamState {
    let s = this.streams.get(stream)
    if (!s) {
      s = { name: stream, buffer: [], pending: deferred(), length: 0, full: false, writing: null }
      this.streams.set(stream, s)
    }
    return s
  }

  /** Buffer one entry (flat field/value list); resolves when it is in Redis. */
  add(stream: string, fields: EntryFields): Promise<void> {
    if (this.closed) return Promise.reject(new Error('producer is closed'))
    const s = this.state(stream)
    s.buffer.push(fields)
    this.buffered++
    const p = s.pending.promise
    if (s.buffer.length >= this.batchSize) this.kick(s)
    else if (!this.timer) this.timer = setTimeout(() => this.onTimer(), this.flushIntervalMs)
    this.checkFull()
    return p
  }

  /** True when a target stream is at its high-water mark or too much is buffered. */
  isFull(): boolean {
    if (this.buffered >= this.maxBuffered) return true
    for (const s of this.streams.values()) if (s.full) return true
    return false
  }

  /** Resolves once `isFull()` is false (or the producer closes). */
  async waitUntilWritable(): Promise<void> {
    while (this.isFull() && !this.closed) {
      await new Promise<void>((resolve) => {
        const onDrain = () => (clearTimeout(t), resolve())
        const t = setTimeout(() => (this.off('drain', onDrain), resolve()), this.pollIntervalMs)
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
      await this.waitBelowMark(s)
      await this.writeBatch(s, batch)
      this.buffered -= batch.length
      this.checkFull()
      // A batch split from a larger buffer shares its promise with the rest of that buffer.
      if (done) done.resolve()
    }
  }

  private async waitBelowMark(s: StreamState): Promise<void> {
    if (s.length < this.highWaterMark) return
    const resumeBelow = Math.max(1, this.highWaterMark - this.batchSize)
    const started = Date.now()
    let attempt = 0
    for (;;) {
      try {
        s.length = await this.opts.redis.xlen(s.name)
        attempt = 0
      } catch (err) {
        this.opts.logger?.warn({ stream: s.name, err: errorMessage(err) }, 'XLEN failed; retrying')
        attempt++
      }
      if (s.length < resumeBelow) break
      if (!s.full) {
        s.full = true
        this.opts.logger?.warn({ stream: s.name, length: s.length, highWaterMark: this.highWaterMark }, 'stream at high-water mark: pausing')
        this.checkFull()
      }
      await sleep(attempt > 0 ? backoffDelay(attempt, this.retryInitialMs, this.retryMaxMs) : this.pollIntervalMs, this.abort.signal)
    }
    if (s.full) {
      s.full = false
      const pausedS = (Date.now() - started) / 1000
      this.opts.metrics?.pausedSeconds.inc({ stream: s.name }, pausedS)
      this.opts.logger?.info({ stream: s.name, length: s.length, pausedS }, 'stream below high-water mark: resuming')
      this.checkFull()
    }
  }

  /**
   * One EVALSHA per batch: a Lua loop of XADDs that returns XLEN. One command instead of one
   * per entry cuts the client-side cost per entry by several times (ioredis builds a Command
   * and a promise for each). A failed call is retried whole (at-least-once: a batch cut short
   * by a connection loss may be written twice, never lost).
   */
  private async writeBatchScript(s: StreamState, batch: EntryFields[]): Promise<void> {
    const args: (string | Buffer)[] = []
    for (const fields of batch) {
      args.push(String(fields.length))
      for (const f of fields) args.push(f)
    }
    let attempt = 0
    const end = this.opts.metrics?.batchSeconds.startTimer({ stream: s.name })
    for (;;) {
      try {
        const len = (await (this.opts.redis as unknown as ScriptClient)[XADD_BATCH](s.name, ...args)) as number
        s.length = Number(len)
        this.opts.metrics?.entriesWritten.inc({ stream: s.name }, batch.length)
        break
      } catch (err) {
        if (errorMessage(err).includes('unknown command') || errorMessage(err).includes('NOSCRIPT')) {
          this.useScript = false
          end?.()
          return this.writeBatch(s, batch)
        }
        attempt++
        this.opts.metrics?.writeErrors.inc({ stream: s.name })
        this.opts.logger?.warn({ stream: s.name, entries: batch.length, attempt, err: errorMessage(err) }, 'XADD batch failed; retrying')
        await sleep(backoffDelay(attempt, this.retryInitialMs, this.retryMaxMs))
      }
    }
    end?.()
  }

  private async writeBatch(s: StreamState, batch: EntryFields[]): Promise<void> {
    if (this.useScript) return this.writeBatchScript(s, batch)
    let todo = batch
    let attempt = 0
    const end = this.opts.metrics?.batchSeconds.startTimer({ stream: s.name })
    for (;;) {
      const pipe = this.opts.redis.pipeline()
      for (const fields of todo) pipe.xadd(s.name, '*', ...fields)
      pipe.xlen(s.name)
      let results: [Error | null, unknown][] | null = null
      try {
        results = await pipe.exec()
      } catch (err) {
        results = todo.map(() => [err as Error, null])
      }
      const failed: EntryFields[] = []
      let firstErr: Error | null = null
      for (let i = 0; i < todo.length; i++) {
        const r = results?.[i]
        if (!r || r[0]) {
          failed.push(todo[i] as EntryFields)
          firstErr ??= r?.[0] ?? new Error('no reply')
        }
      }
      const lenReply = results?.[todo.length]
      if (lenReply && !lenReply[0] && typeof lenReply[1] === 'number') s.length = lenReply[1]
      this.opts.metrics?.entriesWritten.inc({ stream: s.name }, todo.length - failed.length)
      if (failed.length === 0) break
      attempt++
      this.opts.metrics?.writeErrors.inc({ stream: s.name })
      this.opts.logger?.warn(
        { stream: s.name, failed: failed.length, attempt, err: errorMessage(firstErr) },
        'XADD failed; retrying the failed entries',
      )
      todo = failed
      await sleep(backoffDelay(attempt, this.retryInitialMs, this.retryMaxMs))
    }
    end?.()
  }

  private checkFull(): void {
    const full = this.isFull()
    if (full && !this.wasFull) {
      this.wasFull = true
      this.emit('full', [...this.streams.values()].find((s) => s.full)?.name ?? 'buffer')
    } else if (!full && this.wasFull) {
      this.wasFull = false
      this.emit('drain')
    }
  }
}
