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
  /**
   * `script` (default): one EVALSHA per batch, the batch packed into one MessagePack argument
   * (or, where the server's Lua has no cmsgpack, one argument per field); `pipeline`: one
   * pipelined XADD per entry.
   */
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

// ARGV[1]: the batch as one MessagePack array of entries, each an array of its fields and values
// (strings), unpacked by Redis's built-in cmsgpack: one argument per batch instead of three per
// entry, which is most of the client-side cost of a batch.
const XADD_PACKED = 'firehoseXaddPacked'
type PackedClient = Record<typeof XADD_PACKED, (key: string, packed: Buffer) => Promise<unknown>>
const XADD_PACKED_LUA = `
local entries = cmsgpack.unpack(ARGV[1])
for i = 1, #entries do
  redis.call('XADD', KEYS[1], '*', unpack(entries[i]))
end
return redis.call('XLEN', KEYS[1])`

function defineXaddBatch(redis: RedisClient): void {
  const r = redis as unknown as Partial<ScriptClient & PackedClient>
  if (typeof r[XADD_BATCH] !== 'function') redis.defineCommand(XADD_BATCH, { numberOfKeys: 1, lua: XADD_BATCH_LUA })
  if (typeof r[XADD_PACKED] !== 'function') redis.defineCommand(XADD_PACKED, { numberOfKeys: 1, lua: XADD_PACKED_LUA })
}

/** MessagePack of `[[field, value, …], …]`, every field and value as a str (str16/str32 over 31 bytes). */
export function packEntries(batch: readonly EntryFields[]): Buffer {
  let size = 5
  for (const fields of batch) {
    size += 5
    for (const f of fields) size += 5 + (typeof f === 'string' ? Buffer.byteLength(f, 'utf8') : f.length)
  }
  const out = Buffer.allocUnsafe(size)
  let at = arrayHeader(out, 0, batch.length)
  for (const fields of batch) {
    at = arrayHeader(out, at, fields.length)
    for (const f of fields) {
      const n = typeof f === 'string' ? Buffer.byteLength(f, 'utf8') : f.length
      if (n < 32) out[at++] = 0xa0 | n
      else if (n < 0x10000) {
        out[at] = 0xda
        out.writeUInt16BE(n, at + 1)
        at += 3
      } else {
        out[at] = 0xdb
        out.writeUInt32BE(n, at + 1)
        at += 5
      }
      at += typeof f === 'string' ? out.write(f, at, n, 'utf8') : f.copy(out, at)
    }
  }
  return out.subarray(0, at)
}

function arrayHeader(out: Buffer, at: number, n: number): number {
  if (n < 16) {
    out[at] = 0x90 | n
    return at + 1
  }
  if (n < 0x10000) {
    out[at] = 0xdc
    out.writeUInt16BE(n, at + 1)
    return at + 3
  }
  out[at] = 0xdd
  out.writeUInt32BE(n, at + 1)
  return at + 5
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
  private usePacked = true

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
   * and a promise for each), and one packed argument instead of three per entry by several
   * times again. A failed call is retried whole (at-least-once: a batch cut short by a
   * connection loss may be written twice, never lost).
   */
  private async writeBatchScript(s: StreamState, batch: EntryFields[]): Promise<void> {
    let packed: Buffer | null = null
    let args: (string | Buffer)[] | null = null
    if (this.usePacked) packed = packEntries(batch)
    else {
      args = []
      for (const fields of batch) {
        args.push(String(fields.length))
        for (const f of fields) args.push(f)
      }
    }
    let attempt = 0
    const end = this.opts.metrics?.batchSeconds.startTimer({ stream: s.name })
    for (;;) {
      try {
        const client = this.opts.redis as unknown as ScriptClient & PackedClient
        const len = (await (packed ? client[XADD_PACKED](s.name, packed) : client[XADD_BATCH](s.name, ...(args as (string | Buffer)[])))) as number
        s.length = Number(len)
        this.opts.metrics?.entriesWritten.inc({ stream: s.name }, batch.length)
        break
      } catch (err) {
        const message = errorMessage(err)
        if (message.includes('unknown command') || message.includes('NOSCRIPT')) {
          this.useScript = false
          end?.()
          return this.writeBatch(s, batch)
        }
        if (packed && message.includes('cmsgpack')) {
          // a server whose Lua lacks cmsgpack fails before any XADD: the argument-list script then
          this.usePacked = false
          end?.()
          return this.writeBatch(s, batch)
        }
        attempt++
        this.opts.metrics?.writeErrors.inc({ stream: s.name })
        this.opts.logger?.warn({ stream: s.name, entries: batch.length, attempt, err: message }, 'XADD batch failed; retrying')
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
