/**
 * Politeness towards PDS hosts: a token bucket per host (BACKFILLER_HOST_RPS requests per second,
 * the same burst), and a host-wide pause after a 429 so that every repo on that host waits, not
 * only the one that was refused. In-process only: each backfiller instance keeps its own buckets.
 */
import { sleep } from '@firehose/service'

interface Bucket {
  tokens: number
  refilledAt: number
  /** no request before this time (set by a 429) */
  pausedUntil: number
}

export class HostRateLimiter {
  private readonly buckets = new Map<string, Bucket>()

  constructor(
    private readonly rps: number,
    private readonly now: () => number = Date.now,
  ) {
    if (rps <= 0) throw new Error('rps must be greater than 0')
  }

  /** Resolves when a request to `host` may be sent (or the signal aborts). */
  async acquire(host: string, signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) return
      const wait = this.tryTake(host)
      if (wait === 0) return
      await sleep(wait, signal)
    }
  }

  /** Take a token now (0) or say how long to wait before trying again. */
  tryTake(host: string): number {
    const b = this.bucket(host)
    const t = this.now()
    if (t < b.pausedUntil) return b.pausedUntil - t
    b.tokens = Math.min(this.rps, b.tokens + ((t - b.refilledAt) * this.rps) / 1000)
    b.refilledAt = t
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    return Math.ceil(((1 - b.tokens) * 1000) / this.rps)
  }

  /** Hold every request to `host` for `ms` (a 429). */
  pause(host: string, ms: number): void {
    const b = this.bucket(host)
    b.pausedUntil = Math.max(b.pausedUntil, this.now() + ms)
  }

  private bucket(host: string): Bucket {
    let b = this.buckets.get(host)
    if (!b) {
      b = { tokens: this.rps, refilledAt: this.now(), pausedUntil: 0 }
      this.buckets.set(host, b)
      if (this.buckets.size > 10_000) this.evictIdle()
    }
    return b
  }

  private evictIdle(): void {
    const t = this.now()
    for (const [host, b] of this.buckets) {
      if (b.pausedUntil < t && b.tokens >= this.rps - 1e-9) this.buckets.delete(host)
    }
  }
}

/**
 * How long a 429 asks us to wait, in ms, or undefined when it does not say.
 * `Retry-After`: delta seconds or an HTTP date. `RateLimit-Reset` (the PDS sends it): a Unix
 * time in seconds when large, otherwise delta seconds (the IETF draft's form).
 */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | undefined {
  const ra = headers.get('retry-after')?.trim()
  if (ra) {
    if (/^\d+(\.\d+)?$/.test(ra)) return Math.max(0, Math.round(Number(ra) * 1000))
    const at = Date.parse(ra)
    if (!Number.isNaN(at)) return Math.max(0, at - now)
  }
  const reset = headers.get('ratelimit-reset')?.trim()
  if (reset && /^\d+(\.\d+)?$/.test(reset)) {
    const n = Number(reset)
    // Unix seconds (anything after 2001) vs. seconds from now
    return n > 1e9 ? Math.max(0, Math.round(n * 1000 - now)) : Math.round(n * 1000)
  }
  return undefined
}
