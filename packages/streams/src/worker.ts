import { errorMessage } from './redis.js'
import { AckBatcher } from './worker/ack-batcher.js'
import { fillDeliveries } from './worker/deliveries.js'
import { LEAVE_PENDING, type EntryResult, type StreamEntry } from './worker/entry.js'
import { workerSettings, type StreamWorkerOptions, type WorkerSettings } from './worker/options.js'
import { ensureGroup, ReadLoop } from './worker/read-loop.js'
import { Reclaimer } from './worker/reclaim.js'
import { Retries } from './worker/retry.js'
import { trimRound } from './worker/trim-timer.js'

export { LEAVE_PENDING, type BatchHandler, type EntryResult, type StreamEntry } from './worker/entry.js'
export type { StreamWorkerOptions } from './worker/options.js'

/**
 * A consumer-group worker with at-least-once delivery.
 *
 * - Creates the group (MKSTREAM, from 0) when missing; reads its own pending entries first,
 *   then new ones; reads only as much as its free handler slots can take (ReadLoop).
 * - Acks (batched XACK, optional XDEL) only after the handler resolved for that entry (AckBatcher).
 * - Failed entries are retried while running, with backoff, re-claimed with XCLAIM (which
 *   counts the delivery); after `maxDeliveries` attempts, or on a permanent error, the entry is
 *   written to `<stream>_dlq` with its error and then acked (Retries). An entry the handler
 *   answers LEAVE_PENDING for stays pending, uncounted.
 * - Entries idle on a dead consumer for `claimIdleMs` are taken over with XAUTOCLAIM; entries
 *   this worker is still handling are kept fresh (XCLAIM JUSTID) so nobody takes them (Reclaimer).
 * - `close()` stops reading, lets in-flight calls finish, flushes acks; it is idempotent.
 */
export class StreamWorker {
  private readonly o: WorkerSettings
  private readonly queue: StreamEntry[] = []
  private readonly inFlight = new Map<string, StreamEntry>()
  private calls = 0
  private readonly callDone = new Set<() => void>()
  private timers: NodeJS.Timeout[] = []
  private stopping = false
  private closing: Promise<void> | null = null
  private loop: Promise<void> | null = null
  private readonly abort = new AbortController()
  private readonly acks: AckBatcher
  private readonly retries: Retries
  private readonly reclaimer: Reclaimer
  private readonly reads: ReadLoop
  /** Last time the read loop went round (for a liveness watchdog). */
  lastLoopAt = Date.now()

  constructor(opts: StreamWorkerOptions) {
    this.o = workerSettings(opts)
    const host = {
      stopping: () => this.stopping,
      room: () => this.room(),
      waitForRoom: () => this.waitForCall(),
      alive: () => {
        this.lastLoopAt = Date.now()
      },
      fillDeliveries: (entries: StreamEntry[]) => fillDeliveries(this.o, entries, this.inFlight.size + this.retries.size),
      enqueue: (entries: StreamEntry[]) => this.enqueue(entries),
      ack: (ids: string[]) => this.acks.ack(ids),
    }
    this.acks = new AckBatcher(this.o, host.stopping)
    this.retries = new Retries(this.o, host)
    this.reclaimer = new Reclaimer(this.o, host)
    this.reads = new ReadLoop(this.o, host, this.abort.signal)
  }

  get stream(): string {
    return this.o.stream
  }

  /** Create the group if needed and start the loops. */
  async start(): Promise<void> {
    await ensureGroup(this.o)
    const heartbeatMs = Math.max(50, Math.floor(this.o.claimIdleMs / 3))
    const held = () => [...this.inFlight.keys(), ...this.retries.ids()]
    this.timers.push(setInterval(() => void this.reclaimer.heartbeat(held()), heartbeatMs))
    this.timers.push(setInterval(() => void this.reclaimer.reclaim(), this.o.claimIntervalMs))
    if (this.o.trimIntervalMs > 0) this.timers.push(setInterval(() => void trimRound(this.o), this.o.trimIntervalMs))
    this.loop = this.reads.start()
  }

  /** Stop reading, finish in-flight work, flush acks. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose()
    return this.closing
  }

  stats(): { inFlight: number; queued: number; retrying: number; calls: number } {
    return { inFlight: this.inFlight.size, queued: this.queue.length, retrying: this.retries.size, calls: this.calls }
  }

  /** XACK (and XDEL) everything queued; on failure the ids are queued again. */
  flushAcks(): Promise<void> {
    return this.acks.flush()
  }

  private async doClose(): Promise<void> {
    this.stopping = true
    this.abort.abort()
    this.retries.stop()
    try {
      await this.loop
    } catch (err) {
      this.o.logger?.error({ err: errorMessage(err) }, 'read loop failed')
    }
    // Entries read but not started stay pending: a restart or another consumer takes them.
    this.queue.length = 0
    while (this.calls > 0) await new Promise<void>((r) => this.callDone.add(r))
    for (const t of this.timers) clearInterval(t)
    await this.acks.drain()
    await this.reads.close()
  }

  /** Entries the handler slots can take now: none while some are queued. */
  private room(): number {
    const free = this.o.concurrency - this.calls
    return free <= 0 || this.queue.length > 0 ? 0 : free * this.o.batchSize
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

  private enqueue(entries: StreamEntry[]): void {
    for (const e of entries) {
      if (this.inFlight.has(e.id) || this.retries.has(e.id)) continue
      if (this.retries.deadLetterIfExhausted(e)) continue
      this.inFlight.set(e.id, e)
      this.queue.push(e)
    }
    this.o.metrics?.inFlight.set({ stream: this.o.stream }, this.inFlight.size)
    this.pump()
  }

  private pump(): void {
    while (!this.stopping && this.queue.length > 0 && this.calls < this.o.concurrency) {
      const batch = this.queue.splice(0, this.o.batchSize)
      void this.runHandler(batch)
    }
  }

  private async runHandler(batch: StreamEntry[]): Promise<void> {
    this.calls++
    const end = this.o.metrics?.handlerSeconds.startTimer({ stream: this.o.stream })
    let results: EntryResult[] | undefined
    try {
      results = (await this.o.handler(batch)) ?? undefined
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err))
      results = batch.map(() => e)
    }
    end?.()
    const ok: string[] = []
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i] as StreamEntry
      const result = results ? results[i] : null
      this.inFlight.delete(entry.id)
      if (result === LEAVE_PENDING) {
        this.o.logger?.info({ stream: this.o.stream, id: entry.id }, 'entry left pending by its handler')
      } else if (!result) {
        ok.push(entry.id)
        this.retries.succeeded(entry.id)
      } else {
        this.retries.failed(entry, result)
      }
    }
    if (ok.length > 0) this.acks.ack(ok)
    this.o.metrics?.inFlight.set({ stream: this.o.stream }, this.inFlight.size)
    this.calls--
    for (const r of [...this.callDone]) r()
    this.pump()
  }
}
