/**
 * Asynchronous per-frame work with an in-order completion: each frame's work runs after the
 * previous work of the same DID (so a repo's commits are verified and written in order), works of
 * different DIDs overlap, and each frame's `done` (the cursor moving past its seq) is called in
 * frame order, once that frame and every earlier one have finished. A work that throws (Redis
 * down) is retried with backoff until it succeeds or the queue is closed: nothing is skipped.
 */
import { backoffDelay, sleep, type Logger } from '@firehose/service'

interface Slot {
  settled: boolean
  done: () => void
}

export interface OrderedWorkOptions {
  logger: Logger
  /** more frames than this in flight: `onFull` (pause the socket); `onRoom` at half */
  maxInFlight: number
  onFull: () => void
  onRoom: () => void
}

export class OrderedWork {
  private readonly slots: Slot[] = []
  private head = 0
  private readonly chains = new Map<string, Promise<void>>()
  private full = false
  /** works pushed and not yet finished (succeeded, or given up after `close`) */
  private running = 0
  private quietWaiters: (() => void)[] = []
  /** aborted by `close` */
  private readonly closing = new AbortController()

  constructor(private readonly opts: OrderedWorkOptions) {}

  get inFlight(): number {
    return this.slots.length - this.head
  }

  /** `work` (after the DID's earlier work; none = nothing to wait for), then `done` in frame order. */
  push(did: string | undefined, work: (() => Promise<void>) | undefined, done: () => void): void {
    const slot: Slot = { settled: false, done }
    this.slots.push(slot)
    if (work === undefined) {
      slot.settled = true
      this.flush()
    } else if (did === undefined) {
      this.running++
      void this.retrying(work).then((ok) => this.finished(slot, ok))
    } else {
      this.running++
      const prev = this.chains.get(did) ?? Promise.resolve()
      const next = prev.then(() => this.retrying(work)).then((ok) => this.finished(slot, ok))
      this.chains.set(did, next)
      void next.then(() => {
        if (this.chains.get(did) === next) this.chains.delete(did)
      })
    }
    // every time (pause is idempotent): the producer's drain may have resumed the socket meanwhile
    if (this.inFlight >= this.opts.maxInFlight) {
      this.full = true
      this.opts.onFull()
    }
  }

  /**
   * Resolves once no work is running: each pushed work has succeeded, or failed after `close`
   * (a frame whose work gave up stays not done, but does not hold this).
   */
  quiet(): Promise<void> {
    if (this.running === 0) return Promise.resolve()
    return new Promise((resolve) => this.quietWaiters.push(resolve))
  }

  /**
   * Stop retrying failed work: a work that fails from now on (or is waiting to be retried) gives
   * up, and its frame stays not done (the cursor stays before it).
   */
  close(): void {
    this.closing.abort()
  }

  /** false when closed before the work succeeded (its frame never becomes done) */
  private async retrying(work: () => Promise<void>): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await work()
        return true
      } catch (err) {
        if (this.closing.signal.aborted) {
          this.opts.logger.warn({ err: (err as Error).message }, 'sync state work failed while closing; its frame stays unacknowledged')
          return false
        }
        const delay = backoffDelay(attempt, 50, 5000)
        this.opts.logger.warn({ err: (err as Error).message, attempt, delayMs: delay }, 'sync state work failed; retrying')
        await sleep(delay, this.closing.signal)
      }
    }
  }

  private finished(slot: Slot, ok: boolean): void {
    if (ok) {
      slot.settled = true
      this.flush()
    }
    if (--this.running === 0) {
      const waiters = this.quietWaiters
      this.quietWaiters = []
      for (const w of waiters) w()
    }
  }

  private flush(): void {
    while (this.head < this.slots.length && this.slots[this.head]!.settled) {
      this.slots[this.head++]!.done()
    }
    if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots.splice(0, this.head)
      this.head = 0
    }
    if (this.full && this.inFlight <= this.opts.maxInFlight / 2) {
      this.full = false
      this.opts.onRoom()
    }
  }
}
