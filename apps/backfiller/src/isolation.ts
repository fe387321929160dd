/**
 * Crash isolation (#15, finding 2): a repo that kills the process (an OOM kill, a native crash)
 * must not take the repos that were in flight with it to the DLQ.
 *
 * - Every repo handed to the handler gets a run marker in Redis (`<stream>_running`, field = entry
 *   id, value = {alone, at, consumer}) before it starts, cleared when its attempt ends (success,
 *   failure or shutdown). A marker still there when the entry is delivered again means the process
 *   died while the repo ran.
 * - Such an entry is put back in the queue uncharged (the crashed attempt is not an attempt: it
 *   carries the attempts made before it) and marked suspect. A suspect runs alone in its process
 *   (the solo lane: nothing else runs while it does), so a later death during it is its own.
 * - A death while the repo ran alone is a solo crash; after BACKFILLER_MAX_CRASHES of them the
 *   entry is dead-lettered with `crashed: …`. Innocent repos only ever lose the uncounted attempt.
 */
import { PermanentError, type RedisClient, type StreamEntry } from '@firehose/streams'
import type { Logger } from '@firehose/service'
import type { BackfillerMetrics } from './metrics.js'

/** field of a put-back job: it was running when a process died, so it runs alone */
export const SUSPECT = 'suspect'
/** field of a put-back job: deaths of the process while it ran alone */
export const SOLO_CRASHES = 'solo_crashes'

export interface RunMarker {
  alone: boolean
  /** ms since the epoch when the attempt started */
  at: number
  consumer: string
}

export const runningKey = (stream: string): string => `${stream}_running`

/**
 * One process-wide lane: repos run side by side (shared) unless a suspect runs, which runs alone.
 * First come, first served: a waiting suspect holds back the repos that come after it.
 */
export class SoloLane {
  private shared = 0
  private solo = false
  private readonly waiting: { alone: boolean; go: () => void }[] = []

  /** Wait for a turn; call the returned function when done (once). */
  acquire(alone: boolean): Promise<() => void> {
    return new Promise((resolve) => {
      this.waiting.push({
        alone,
        go: () => {
          let released = false
          resolve(() => {
            if (released) return
            released = true
            if (alone) this.solo = false
            else this.shared--
            this.drain()
          })
        },
      })
      this.drain()
    })
  }

  /** Run `fn` as a shared holder (a suspect waits for it). */
  async around<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(false)
    try {
      return await fn()
    } finally {
      release()
    }
  }

  /** true while a suspect runs */
  get isolating(): boolean {
    return this.solo
  }

  private drain(): void {
    while (!this.solo && this.waiting.length > 0) {
      const next = this.waiting[0] as { alone: boolean; go: () => void }
      if (next.alone) {
        if (this.shared > 0) return
        this.waiting.shift()
        this.solo = true
        next.go()
        return
      }
      this.waiting.shift()
      this.shared++
      next.go()
    }
  }
}

export interface CrashIsolationDeps {
  redis: RedisClient
  consumer: string
  maxCrashes: number
  metrics: BackfillerMetrics
  logger: Logger
  /** add the job back to its stream with these fields and ack the entry */
  putBack: (entry: StreamEntry, fields: Record<string, string>) => Promise<void>
  /** make the acks of what this process finished durable */
  flushAcks: () => Promise<void>
}

/** What to do with an entry before its attempt: run it (alone or not), or done with it here. */
export type CrashVerdict = { run: true; alone: boolean } | { run: false; result: Error | null }

export class CrashIsolation {
  readonly lane = new SoloLane()

  constructor(private readonly d: CrashIsolationDeps) {}

  /**
   * Look for a marker left by a process that died during this entry, and decide. `deliveries`
   * must already include the attempts carried by a put-back job.
   */
  async check(entry: StreamEntry, did: string | undefined): Promise<CrashVerdict> {
    const raw = await this.d.redis.hget(runningKey(entry.stream), entry.id)
    const alone = entry.fields[SUSPECT] === '1'
    if (raw === null) return { run: true, alone }
    const marker = parseMarker(raw)
    const solo = Number(entry.fields[SOLO_CRASHES] ?? 0) + (marker?.alone ? 1 : 0)
    const log = {
      did,
      entry: entry.id,
      ranAlone: marker?.alone ?? false,
      soloCrashes: solo,
      maxCrashes: this.d.maxCrashes,
      diedOn: marker?.consumer,
    }
    if (marker?.alone) this.d.metrics.reposFailed.inc({ reason: 'crashed' })
    if (solo >= this.d.maxCrashes) {
      this.d.logger.error(log, 'repo crashed the backfiller each time it ran alone: dead-lettering it')
      await this.clear(entry)
      return { run: false, result: new PermanentError(`crashed: the backfiller process died ${solo} times while this repo ran alone`) }
    }
    this.d.logger.warn(log, 'repo was running when the backfiller process died: put back to run alone')
    try {
      await this.d.putBack(entry, {
        ...entry.fields,
        [SUSPECT]: '1',
        [SOLO_CRASHES]: String(solo),
      })
    } catch (err) {
      return { run: false, result: new Error(`could not put the job back: ${(err as Error).message}`) }
    }
    await this.clear(entry)
    return { run: false, result: null }
  }

  /** Make the acks of what this process finished durable (before a suspect runs). */
  flushAcks(): Promise<void> {
    return this.d.flushAcks()
  }

  /** Record that the entry's attempt is starting (alone or not). */
  async mark(entry: StreamEntry, alone: boolean): Promise<void> {
    const marker: RunMarker = { alone, at: Date.now(), consumer: this.d.consumer }
    await this.d.redis.hset(runningKey(entry.stream), entry.id, JSON.stringify(marker))
  }

  /** The attempt ended (any way but a death): forget its marker. Failures are logged, not thrown. */
  async clear(entry: StreamEntry): Promise<void> {
    try {
      await this.d.redis.hdel(runningKey(entry.stream), entry.id)
    } catch (err) {
      this.d.logger.warn({ entry: entry.id, err: (err as Error).message }, 'could not clear a run marker')
    }
  }
}

function parseMarker(raw: string): RunMarker | null {
  try {
    const v = JSON.parse(raw) as Partial<RunMarker>
    return { alone: v.alone === true, at: Number(v.at) || 0, consumer: String(v.consumer ?? '') }
  } catch {
    return null
  }
}
