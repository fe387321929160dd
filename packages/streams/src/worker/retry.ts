import { backoffDelay } from '@firehose/service'
import { writeDeadLetter } from '../dlq.js'
import { isPermanent } from '../errors.js'
import { errorMessage } from '../redis.js'
import { newEntry, type StreamEntry } from './entry.js'
import type { WorkerSettings } from './options.js'

/** What the retries need from the worker. */
export interface RetryHost {
  stopping(): boolean
  ack(ids: string[]): void
  /** Hand entries (taken back for another attempt) to the handler again. */
  enqueue(entries: StreamEntry[]): void
  fillDeliveries(entries: StreamEntry[]): Promise<void>
}

/**
 * Retry and dead-letter: a failed entry is taken back after a backoff (XCLAIM counts the
 * delivery) and queued again; after `maxDeliveries` attempts, or on a permanent error, it is
 * written to the dead-letter stream with its last error, and acked only once that write is done.
 */
export class Retries {
  /** Entries waiting for their backoff, by id. */
  private readonly waiting = new Map<string, NodeJS.Timeout>()
  private readonly lastError = new Map<string, string>()

  constructor(
    private readonly o: WorkerSettings,
    private readonly host: RetryHost,
  ) {}

  get size(): number {
    return this.waiting.size
  }

  has(id: string): boolean {
    return this.waiting.has(id)
  }

  ids(): IterableIterator<string> {
    return this.waiting.keys()
  }

  /** The entry was handled: forget its last error. */
  succeeded(id: string): void {
    this.lastError.delete(id)
  }

  /** An entry delivered more than `maxDeliveries` times is dead-lettered; true if it was. */
  deadLetterIfExhausted(e: StreamEntry): boolean {
    if (e.deliveries <= this.o.maxDeliveries) return false
    void this.exhausted(e)
    return true
  }

  /** An exhausted entry: the `onExhausted` hook first, then the dead letter (or an ack). */
  private async exhausted(e: StreamEntry): Promise<void> {
    const o = this.o
    let verdict: Error | null | undefined
    try {
      verdict = await o.onExhausted?.(e)
    } catch (err) {
      o.logger?.warn({ stream: o.stream, id: e.id, err: errorMessage(err) }, 'onExhausted failed: dead-lettering the entry')
    }
    if (verdict === null) {
      this.lastError.delete(e.id)
      this.host.ack([e.id])
      return
    }
    // (after the hook: it may count attempts the entry carries, as the dead letter's `attempts` does)
    await this.deadLetter(e, verdict?.message ?? this.lastError.get(e.id) ?? `delivered ${e.deliveries} times without being acked`)
  }

  failed(entry: StreamEntry, err: Error): void {
    const o = this.o
    this.lastError.set(entry.id, err.message)
    o.metrics?.failed.inc({ stream: o.stream })
    const permanent = isPermanent(err)
    if (this.host.stopping() && !permanent) {
      // Failed because we are shutting down (or while we are): not the entry's fault. It stays
      // pending; a restart or another consumer takes it, without a dead letter.
      o.logger?.info({ stream: o.stream, id: entry.id }, 'entry left pending at shutdown')
      return
    }
    if (permanent || entry.deliveries >= o.maxDeliveries) {
      void this.deadLetter(entry, err.message)
      return
    }
    o.logger?.warn({ stream: o.stream, id: entry.id, deliveries: entry.deliveries, err: err.message }, 'entry failed; will retry')
    if (this.host.stopping()) return
    const delay = backoffDelay(entry.deliveries - 1, o.retryInitialMs, o.retryMaxMs)
    this.waiting.set(
      entry.id,
      setTimeout(() => void this.retry(entry.id), delay),
    )
  }

  /** At close: no more retries (the entries stay pending on this consumer). */
  stop(): void {
    for (const t of this.waiting.values()) clearTimeout(t)
    this.waiting.clear()
  }

  /** Take a failed entry back (XCLAIM counts the delivery) and queue it again. */
  private async retry(id: string): Promise<void> {
    const o = this.o
    this.waiting.delete(id)
    if (this.host.stopping()) return
    try {
      const claimed = (await o.redis.xclaim(o.stream, o.group, o.consumer, 0, id)) as [string, string[] | null][]
      const item = claimed[0]
      if (!item || item[1] === null) {
        if (item) this.host.ack([id])
        this.lastError.delete(id)
        return
      }
      const entry = newEntry(o.stream, id, item[1])
      await this.host.fillDeliveries([entry])
      o.metrics?.retried.inc({ stream: o.stream })
      this.host.enqueue([entry])
    } catch (err) {
      // Still pending on us: the reclaim loop or a restart picks it up.
      o.logger?.warn({ stream: o.stream, id, err: errorMessage(err) }, 'retry claim failed')
    }
  }

  private async deadLetter(entry: StreamEntry, error: string): Promise<void> {
    const o = this.o
    try {
      await writeDeadLetter(
        o.redis,
        entry.fields,
        { error, attempts: entry.deliveries, consumer: o.consumer, sourceStream: o.stream, sourceId: entry.id },
        o.dlqStream,
        o.dlqMaxLength,
      )
      o.metrics?.deadLettered.inc({ stream: o.stream })
      o.logger?.error({ stream: o.stream, id: entry.id, attempts: entry.deliveries, err: error, dlq: o.dlqStream }, 'entry dead-lettered')
      this.lastError.delete(entry.id)
      this.host.ack([entry.id])
    } catch (err) {
      // Not acked: it stays pending and comes back through reclaim or a restart.
      o.logger?.error({ stream: o.stream, id: entry.id, err: errorMessage(err) }, 'dead-letter write failed')
    }
  }
}
