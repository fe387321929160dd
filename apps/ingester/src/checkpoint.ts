/**
 * At-least-once cursors. A host's cursor is the highest seq whose entries, and every earlier
 * entry of that host, are in Redis: `track()` records the promise of each entry added to the
 * producer, `advance()` the seq of each frame handled; every `intervalMs` the latest seq is
 * written, but only after the entries added before it are in Redis. The producer writes each
 * stream's batches in order, so the newest promise per stream covers all earlier ones.
 */
import type { Logger } from '@firehose/service'
import type { CursorStore } from '@firehose/streams'

export interface CheckpointOptions {
  cursors: CursorStore
  host: string
  intervalMs: number
  logger: Logger
  /** After a cursor is written, with the entries per stream it covered. */
  onWritten?: (seq: number, written: Map<string, number>) => void
}

export class Checkpoint {
  private latest = new Map<string, Promise<void>>()
  private counts = new Map<string, number>()
  private seq: number | undefined
  private dirty = false
  private writing: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  /** Set when tracked entries can no longer be written: the cursor must stay where it is. */
  private broken = false
  /** A cursor has been stored for this host by this process (or the caller says one exists). */
  private stored = false

  constructor(private readonly opts: CheckpointOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.write(), this.opts.intervalMs)
  }

  /** `n` entries were handed to the producer; `written` (the last one's) resolves once they are in Redis. */
  track(stream: string, written: Promise<void>, n = 1): void {
    this.latest.set(stream, written)
    this.counts.set(stream, (this.counts.get(stream) ?? 0) + n)
  }

  /** Every entry of frames up to `seq` has been tracked. */
  advance(seq: number): void {
    this.seq = seq
    this.dirty = true
    // Until a first cursor is stored, a restart would start live and skip whatever arrived in
    // between (found by the e2e fault run: a SIGKILL within the first interval lost events).
    // So the first cursor is written as soon as its entries are in Redis, not on the timer.
    if (!this.stored) void this.write()
  }

  /** Last seq handled (not necessarily written yet). */
  get handledSeq(): number | undefined {
    return this.seq
  }

  /** Write the cursor for what has been handled so far, once it is in Redis. */
  write(): Promise<void> {
    if (this.writing) return this.writing
    if (this.broken || !this.dirty || this.seq === undefined) return Promise.resolve()
    const seq = this.seq
    const waits = [...this.latest.values()]
    const counts = this.counts
    this.latest = new Map()
    this.counts = new Map()
    this.dirty = false
    this.writing = (async () => {
      try {
        await Promise.all(waits)
      } catch (err) {
        // the producer was closed before writing them: the cursor must not move past them
        this.broken = true
        this.opts.logger.warn({ err: (err as Error).message, seq }, 'entries not written; cursor not moved')
        return
      }
      try {
        await this.opts.cursors.set(this.opts.host, seq)
        this.stored = true
        this.opts.onWritten?.(seq, counts)
      } catch (err) {
        this.opts.logger.warn({ err: (err as Error).message, seq }, 'cursor write failed; retrying with the next one')
        this.dirty = true
      }
    })().finally(() => {
      this.writing = null
    })
    return this.writing
  }

  /** Stop the timer and write the final cursor. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.write()
    // a write in flight when close was called may have left newer frames unwritten
    await this.write()
  }
}
