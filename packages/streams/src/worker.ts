import { backoffDelay, sleep, type Logger } from '@firehose/service'
import { writeDeadLetter } from './dlq.js'
import { isPermanent } from './errors.js'
import { dlqStreamName } from './names.js'
import { trimAcked } from './trim.js'
import { errorMessage, fieldsToObject, type RedisClient } from './redis.js'
import type { WorkerMetrics } from './metrics.js'

export interface StreamEntry {
  stream: string
  id: string
  fields: Record<string, string>
  /** How many times the group has delivered this entry (1 on first delivery). */
  deliveries: number
}

/**
 * Handles a batch of entries. Return nothing (all done) or one slot per entry: `null` for done,
 * an Error for failed. Throwing fails the whole batch. An error with `permanent: true`
 * (see PermanentError) dead-letters the entry without further attempts.
 */
export type BatchHandler = (entries: StreamEntry[]) => Promise<(Error | null | undefined)[] | void>

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
  /** Every this many ms, trim from the stream what every group has acked (0: never). */
  trimIntervalMs?: number
  /** Upper bound of one XREADGROUP COUNT. */
  maxReadCount?: number
  logger?: Logger
  metrics?: WorkerMetrics
}

type Required_ = Required<Omit<StreamWorkerOptions, 'logger' | 'metrics' | 'dlqStream'>> &
  Pick<StreamWorkerOptions, 'logger' | 'metrics'> & { dlqStream: string }

/**
 * A consumer-group worker with at-least-once delivery.
 *
 * - Creates the group (MKSTREAM, from 0) when missing; reads its own pending entries first,
 *   then new ones; reads only as much as its free handler slots can take.
 * - Acks (batched XACK, optional XDEL) only after the handler resolved for that entry.
 * - Failed entries are retried while running, with backoff, re-claimed with XCLAIM (which
 *   counts the delivery); after `maxDeliveries` attempts, or on a permanent error, the entry is
 *   written to `<stream>_dlq` with its error and then acked.
 * - Entries idle on a dead consumer for `claimIdleMs` are taken over with XAUTOCLAIM; entries
 *   this worker is still handling are kept fresh (XCLAIM JUSTID) so nobody takes them.
 * - `close()` stops reading, lets in-flight calls finish, flushes acks; it is idempotent.
 */
export class StreamWorker {
  private readonly o: Required_
  private reader: RedisClient | null = null
  private readonly queue: StreamEntry[] = []
  private readonly inFlight = new Map<string, StreamEntry>()
  private readonly retrying = new Map<string, NodeJS.Timeout>()
  private readonly lastError = new Map<string, string>()
  private calls = 0
  private readonly callDone = new Set<() => void>()
  private ackQueue: string[] = []
  private ackTimer: NodeJS.Timeout | null = null
  private acking: Promise<void> | null = null
  private timers: NodeJS.Timeout[] = []
  private stopping = false
  private closing: Promise<void> | null = null
  private loop: Promise<void> | null = null
  private readonly abort = new AbortController()
  private claimCursor = '0-0'
  /** Last time the read loop went round (for a liveness watchdog). */
  lastLoopAt = Date.now()

  constructor(opts: StreamWorkerOptions) {
    this.o = {
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
      maxReadCount: 5000,
      ...opts,
      dlqStream: opts.dlqStream ?? dlqStreamName(opts.stream),
    }
    const o = this.o
    if (o.batchSize < 1) throw new Error('batchSize must be greater than 0')
    if (o.concurrency < 1) throw new Error('concurrency must be greater than 0')
    if (o.maxDeliveries < 1) throw new Error('maxDeliveries must be greater than 0')
    if (o.claimIdleMs < 100) throw new Error('claimIdleMs must be at least 100')
    if (!o.consumer) throw new Error('consumer must be set')
  }

  get stream(): string {
    return this.o.stream
  }

  /** Create the group if needed and start the loops. */
  async start(): Promise<void> {
    await this.ensureGroup()
    this.reader = this.o.redis.duplicate()
    const heartbeatMs = Math.max(50, Math.floor(this.o.claimIdleMs / 3))
    this.timers.push(setInterval(() => void this.heartbeat(), heartbeatMs))
    this.timers.push(setInterval(() => void this.reclaim(), this.o.claimIntervalMs))
    if (this.o.trimIntervalMs > 0) this.timers.push(setInterval(() => void this.trim(), this.o.trimIntervalMs))
    this.loop = this.readLoop()
  }

  /** Stop reading, finish in-flight work, flush acks. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose()
    return this.closing
  }

  stats(): { inFlight: number; queued: number; retrying: number; calls: number } {
    return { inFlight: this.inFlight.size, queued: this.queue.length, retrying: this.retrying.size, calls: this.calls }
  }

  private async doClose(): Promise<void> {
    this.stopping = true
    this.abort.abort()
    for (const t of this.retrying.values()) clearTimeout(t)
    this.retrying.clear()
    try {
      await this.loop
    } catch (err) {
      this.o.logger?.error({ err: errorMessage(err) }, 'read loop failed')
    }
    // Entries read but not started stay pending: a restart or another consumer takes them.
    this.queue.length = 0
    while (this.calls > 0) await new Promise<void>((r) => this.callDone.add(r))
    for (const t of this.timers) clearInterval(t)
    if (this.ackTimer) clearTimeout(this.ackTimer)
    for (let i = 0; i < 20 && (this.ackQueue.length > 0 || this.acking); i++) {
      try {
        await this.flushAcks()
      } catch {
        await sleep(250)
      }
    }
    try {
      await this.reader?.quit()
    } catch {
      this.reader?.disconnect()
    }
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.o.redis.xgroup('CREATE', this.o.stream, this.o.group, '0', 'MKSTREAM')
      this.o.logger?.info({ stream: this.o.stream, group: this.o.group }, 'created consumer group')
    } catch (err) {
      if (!errorMessage(err).includes('BUSYGROUP')) throw err
    }
  }

  private freeSlots(): number {
    return this.o.concurrency - this.calls
  }

  private async readLoop(): Promise<void> {
    let pendingCursor: string | null = '0'
    let attempt = 0
    while (!this.stopping) {
      this.lastLoopAt = Date.now()
      if (this.freeSlots() <= 0 || this.queue.length > 0) {
        await this.waitForCall()
        continue
      }
      const count = Math.min(this.o.maxReadCount, this.freeSlots() * this.o.batchSize)
      try {
        const entries = await this.read(pendingCursor ?? '>', count)
        attempt = 0
        if (pendingCursor !== null) {
          if (entries.length === 0) {
            pendingCursor = null
            continue
          }
          pendingCursor = (entries[entries.length - 1] as StreamEntry).id
          await this.fillDeliveries(entries)
        }
        this.enqueue(entries)
      } catch (err) {
        if (this.stopping) break
        const msg = errorMessage(err)
        if (msg.includes('NOGROUP')) {
          this.o.logger?.warn({ stream: this.o.stream, group: this.o.group }, 'consumer group missing: recreating it')
          await this.ensureGroup().catch(() => undefined)
        }
        attempt++
        const delay = backoffDelay(attempt, 100, 5000)
        this.o.logger?.warn({ stream: this.o.stream, err: msg, retryInMs: delay }, 'XREADGROUP failed')
        await sleep(delay, this.abort.signal)
      }
    }
  }

  private waitForCall(): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, 1000)
      const self = this
      function done() {
        clearTimeout(t)
        self.callDone.delete(done)
        resolve()
      }
      this.callDone.add(done)
      this.abort.signal.addEventListener('abort', done, { once: true })
    })
  }

  private async read(id: string, count: number): Promise<StreamEntry[]> {
    const reader = this.reader as RedisClient
    const args: (string | number)[] = ['GROUP', this.o.group, this.o.consumer, 'COUNT', count]
    if (id === '>') args.push('BLOCK', this.o.blockMs)
    args.push('STREAMS', this.o.stream, id)
    const res = (await reader.call('XREADGROUP', ...args)) as [string, [string, string[] | null][]][] | null
    if (!res) return []
    const out: StreamEntry[] = []
    const deleted: string[] = []
    for (const [, items] of res) {
      for (const [eid, flat] of items) {
        if (flat === null) deleted.push(eid)
        else out.push({ stream: this.o.stream, id: eid, fields: fieldsToObject(flat), deliveries: 1 })
      }
    }
    if (deleted.length > 0) {
      // Pending entries whose data is gone (trimmed or XDELed elsewhere): nothing to handle.
      this.o.metrics?.deletedPending.inc({ stream: this.o.stream }, deleted.length)
      this.o.logger?.warn({ stream: this.o.stream, count: deleted.length }, 'pending entries no longer in the stream: acking them')
      this.ack(deleted)
    }
    return out
  }

  /** Set `deliveries` from XPENDING for entries that may have been delivered before. */
  private async fillDeliveries(entries: StreamEntry[]): Promise<void> {
    if (entries.length === 0) return
    const first = (entries[0] as StreamEntry).id
    const last = (entries[entries.length - 1] as StreamEntry).id
    const rows = (await this.o.redis.xpending(
      this.o.stream, this.o.group, first, last, entries.length + this.inFlight.size + this.retrying.size + 10, this.o.consumer,
    )) as [string, string, number, number][]
    const counts = new Map(rows.map((r) => [r[0], Number(r[3])]))
    for (const e of entries) e.deliveries = counts.get(e.id) ?? e.deliveries
  }

  private enqueue(entries: StreamEntry[]): void {
    for (const e of entries) {
      if (this.inFlight.has(e.id) || this.retrying.has(e.id)) continue
      if (e.deliveries > this.o.maxDeliveries) {
        const why = this.lastError.get(e.id) ?? `delivered ${e.deliveries} times without being acked`
        void this.deadLetter(e, why)
        continue
      }
      this.inFlight.set(e.id, e)
      this.queue.push(e)
    }
    this.o.metrics?.inFlight.set({ stream: this.o.stream }, this.inFlight.size)
    this.pump()
  }

  private pump(): void {
    while (!this.stopping && this.queue.length > 0 && this.freeSlots() > 0) {
      const batch = this.queue.splice(0, this.o.batchSize)
      void this.runHandler(batch)
    }
  }

  private async runHandler(batch: StreamEntry[]): Promise<void> {
    this.calls++
    const end = this.o.metrics?.handlerSeconds.startTimer({ stream: this.o.stream })
    let results: (Error | null | undefined)[] | void
    try {
      results = await this.o.handler(batch)
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err))
      results = batch.map(() => e)
    }
    end?.()
    const ok: string[] = []
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i] as StreamEntry
      const err = results ? results[i] : null
      if (!err) {
        ok.push(entry.id)
        this.inFlight.delete(entry.id)
        this.lastError.delete(entry.id)
      } else {
        this.onFailure(entry, err)
      }
    }
    if (ok.length > 0) this.ack(ok)
    this.o.metrics?.inFlight.set({ stream: this.o.stream }, this.inFlight.size)
    this.calls--
    for (const r of [...this.callDone]) r()
    this.pump()
  }

  private onFailure(entry: StreamEntry, err: Error): void {
    this.inFlight.delete(entry.id)
    this.lastError.set(entry.id, err.message)
    this.o.metrics?.failed.inc({ stream: this.o.stream })
    const permanent = isPermanent(err)
    if (this.stopping && !permanent) {
      // Failed because we are shutting down (or while we are): not the entry's fault. It stays
      // pending; a restart or another consumer takes it, without a dead letter.
      this.o.logger?.info({ stream: this.o.stream, id: entry.id }, 'entry left pending at shutdown')
      return
    }
    if (permanent || entry.deliveries >= this.o.maxDeliveries) {
      void this.deadLetter(entry, err.message)
      return
    }
    this.o.logger?.warn(
      { stream: this.o.stream, id: entry.id, deliveries: entry.deliveries, err: err.message },
      'entry failed; will retry',
    )
    if (this.stopping) return
    const delay = backoffDelay(entry.deliveries - 1, this.o.retryInitialMs, this.o.retryMaxMs)
    this.retrying.set(entry.id, setTimeout(() => void this.retry(entry.id), delay))
  }

  /** Take a failed entry back (XCLAIM counts the delivery) and queue it again. */
  private async retry(id: string): Promise<void> {
    this.retrying.delete(id)
    if (this.stopping) return
    try {
      const claimed = (await this.o.redis.xclaim(this.o.stream, this.o.group, this.o.consumer, 0, id)) as [string, string[] | null][]
      const item = claimed[0]
      if (!item || item[1] === null) {
        if (item) this.ack([id])
        this.lastError.delete(id)
        return
      }
      const entry: StreamEntry = { stream: this.o.stream, id, fields: fieldsToObject(item[1]), deliveries: 1 }
      await this.fillDeliveries([entry])
      this.o.metrics?.retried.inc({ stream: this.o.stream })
      this.enqueue([entry])
    } catch (err) {
      // Still pending on us: the reclaim loop or a restart picks it up.
      this.o.logger?.warn({ stream: this.o.stream, id, err: errorMessage(err) }, 'retry claim failed')
    }
  }

  private async deadLetter(entry: StreamEntry, error: string): Promise<void> {
    try {
      await writeDeadLetter(this.o.redis, entry.fields, {
        error,
        attempts: entry.deliveries,
        consumer: this.o.consumer,
        sourceStream: this.o.stream,
        sourceId: entry.id,
      }, this.o.dlqStream)
      this.o.metrics?.deadLettered.inc({ stream: this.o.stream })
      this.o.logger?.error(
        { stream: this.o.stream, id: entry.id, attempts: entry.deliveries, err: error, dlq: this.o.dlqStream },
        'entry dead-lettered',
      )
      this.lastError.delete(entry.id)
      this.ack([entry.id])
    } catch (err) {
      // Not acked: it stays pending and comes back through reclaim or a restart.
      this.o.logger?.error({ stream: this.o.stream, id: entry.id, err: errorMessage(err) }, 'dead-letter write failed')
    }
  }

  private ack(ids: string[]): void {
    for (const id of ids) this.ackQueue.push(id)
    if (this.ackQueue.length >= this.o.ackBatchSize) void this.flushAcks().catch(() => undefined)
    else this.ackTimer ??= setTimeout(() => {
      this.ackTimer = null
      void this.flushAcks().catch(() => undefined)
    }, this.o.ackIntervalMs)
  }

  /** XACK (and XDEL) everything queued; on failure the ids are queued again. */
  async flushAcks(): Promise<void> {
    while (this.acking) await this.acking
    if (this.ackQueue.length === 0) return
    const ids = this.ackQueue
    this.ackQueue = []
    this.acking = (async () => {
      try {
        const pipe = this.o.redis.pipeline()
        pipe.xack(this.o.stream, this.o.group, ...ids)
        if (this.o.deleteOnAck) pipe.xdel(this.o.stream, ...ids)
        const res = await pipe.exec()
        const failed = res?.find((r) => r[0])
        if (failed) throw failed[0]
        this.o.metrics?.acked.inc({ stream: this.o.stream }, ids.length)
      } catch (err) {
        this.ackQueue.push(...ids)
        this.o.logger?.warn({ stream: this.o.stream, count: ids.length, err: errorMessage(err) }, 'XACK failed; will retry')
        if (!this.stopping) this.ackTimer ??= setTimeout(() => {
          this.ackTimer = null
          void this.flushAcks().catch(() => undefined)
        }, 500)
        throw err
      } finally {
        this.acking = null
      }
    })()
    await this.acking
  }

  /** Keep the idle time of our in-flight and retrying entries low so nobody reclaims them. */
  private async heartbeat(): Promise<void> {
    const ids = [...this.inFlight.keys(), ...this.retrying.keys()]
    for (let i = 0; i < ids.length; i += 1000) {
      try {
        await this.o.redis.xclaim(this.o.stream, this.o.group, this.o.consumer, 0, ...ids.slice(i, i + 1000), 'JUSTID')
      } catch (err) {
        this.o.logger?.warn({ stream: this.o.stream, err: errorMessage(err) }, 'heartbeat claim failed')
        return
      }
    }
  }

  private async trim(): Promise<void> {
    try {
      const n = await trimAcked(this.o.redis, this.o.stream)
      if (n > 0) this.o.logger?.debug({ stream: this.o.stream, trimmed: n }, 'trimmed acked entries')
    } catch (err) {
      this.o.logger?.warn({ stream: this.o.stream, err: errorMessage(err) }, 'trim failed')
    }
  }

  /** Take over entries idle longer than claimIdleMs on any consumer (e.g. a crashed one). */
  private async reclaim(): Promise<void> {
    if (this.stopping || this.freeSlots() <= 0 || this.queue.length > 0) return
    try {
      const count = Math.max(1, this.freeSlots() * this.o.batchSize)
      const res = (await this.o.redis.xautoclaim(
        this.o.stream, this.o.group, this.o.consumer, this.o.claimIdleMs, this.claimCursor, 'COUNT', count,
      )) as [string, [string, string[] | null][], string[]?]
      this.claimCursor = res[0]
      const entries: StreamEntry[] = []
      for (const [id, flat] of res[1]) {
        if (flat) entries.push({ stream: this.o.stream, id, fields: fieldsToObject(flat), deliveries: 1 })
      }
      const deleted = res[2] ?? []
      if (deleted.length > 0) this.o.metrics?.deletedPending.inc({ stream: this.o.stream }, deleted.length)
      if (entries.length === 0) return
      await this.fillDeliveries(entries)
      this.o.metrics?.reclaimed.inc({ stream: this.o.stream }, entries.length)
      this.o.logger?.info({ stream: this.o.stream, count: entries.length }, 'reclaimed idle entries')
      this.enqueue(entries)
    } catch (err) {
      this.o.logger?.warn({ stream: this.o.stream, err: errorMessage(err) }, 'XAUTOCLAIM failed')
    }
  }
}
