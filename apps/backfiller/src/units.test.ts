/** Small pieces without Redis: config parsing, 429 headers, host rate limiter, byte budget. */
import { ConfigError } from '@firehose/service'
import { describe, expect, it } from 'vitest'
import { ByteBudget } from './byte-budget.js'
import { loadConfig } from './config.js'
import { HostRateLimiter, retryAfterMs } from './rate-limit.js'

describe('config', () => {
  it('applies the docs/design.md defaults', () => {
    const c = loadConfig({ BACKFILLER_CONSUMER: 'b1' })
    expect(c).toMatchObject({
      consumer: 'b1',
      reposInFlight: 20,
      chunkSize: 500,
      httpTimeoutMs: 60_000,
      maxRetries: 3,
      retryInitialMs: 1000,
      retryMaxMs: 30_000,
      plcUrl: 'https://plc.directory',
      syncStatePrefix: 'sync_state',
      metricsPort: 9090,
      inStream: 'repo_backfill',
      outStream: 'firehose_backfill',
      group: 'repo_backfill_group',
    })
    expect(loadConfig({ BACKFILLER_CONSUMER: 'b1', BACKFILLER_METRICS_PORT: '9101', METRICS_PORT: '9102' }).metricsPort).toBe(9101)
    expect(loadConfig({ BACKFILLER_CONSUMER: 'b1', METRICS_PORT: '9102' }).metricsPort).toBe(9102)
  })
  it('reads the old names BACKFILLER_CONCURRENCY and BACKFILLER_BATCH_SIZE; the new names win', () => {
    const old = loadConfig({ BACKFILLER_CONSUMER: 'b1', BACKFILLER_CONCURRENCY: '3', BACKFILLER_BATCH_SIZE: '40' })
    expect(old).toMatchObject({ reposInFlight: 3, chunkSize: 40, hostMaxSlots: 2 })
    expect(old.deprecatedVariables.map((d) => d.variable)).toEqual(['BACKFILLER_CONCURRENCY', 'BACKFILLER_BATCH_SIZE'])
    const both = loadConfig({
      BACKFILLER_CONSUMER: 'b1',
      BACKFILLER_CONCURRENCY: '3',
      BACKFILLER_REPOS_IN_FLIGHT: '5',
      BACKFILLER_CHUNK_SIZE: '60',
    })
    expect(both).toMatchObject({ reposInFlight: 5, chunkSize: 60 })
  })
  it('names every bad variable', () => {
    const err = (() => {
      try {
        loadConfig({
          BACKFILLER_REPOS_IN_FLIGHT: 'lots',
          BACKFILLER_RETRY_INITIAL_BACKOFF_MS: '5000',
          BACKFILLER_RETRY_MAX_BACKOFF_MS: '10',
        })
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(ConfigError)
    const msg = (err as Error).message
    for (const v of ['BACKFILLER_CONSUMER', 'BACKFILLER_REPOS_IN_FLIGHT', 'BACKFILLER_RETRY_MAX_BACKOFF_MS']) expect(msg).toContain(v)
  })
})

describe('retryAfterMs', () => {
  const now = Date.UTC(2026, 0, 1)
  const h = (o: Record<string, string>) => new Headers(o)
  it('reads Retry-After seconds and dates, RateLimit-Reset epoch and delta, and nothing', () => {
    expect(retryAfterMs(h({ 'retry-after': '3' }), now)).toBe(3000)
    expect(retryAfterMs(h({ 'retry-after': new Date(now + 5000).toUTCString() }), now)).toBe(5000)
    expect(retryAfterMs(h({ 'ratelimit-reset': String(now / 1000 + 7) }), now)).toBe(7000)
    expect(retryAfterMs(h({ 'ratelimit-reset': '2' }), now)).toBe(2000)
    expect(retryAfterMs(h({ 'ratelimit-reset': String(now / 1000 - 7) }), now)).toBe(0)
    expect(retryAfterMs(h({}), now)).toBeUndefined()
    expect(retryAfterMs(h({ 'retry-after': 'soon' }), now)).toBeUndefined()
  })
})

describe('HostRateLimiter', () => {
  it('allows a burst of rps, then spaces requests; a pause holds the host only', () => {
    let t = 0
    const l = new HostRateLimiter(2, () => t)
    expect(l.tryTake('a')).toBe(0)
    expect(l.tryTake('a')).toBe(0)
    expect(l.tryTake('a')).toBe(500)
    t = 500
    expect(l.tryTake('a')).toBe(0)
    l.pause('a', 10_000)
    expect(l.tryTake('a')).toBe(10_000)
    expect(l.tryTake('b')).toBe(0)
  })
})

describe('ByteBudget', () => {
  it('blocks newer holders over the limit, never the oldest, and wakes them on release', async () => {
    const b = new ByteBudget(100)
    const first = b.open()
    const second = b.open()
    await first.reserve(80)
    let granted = false
    const waiting = second.reserve(50).then(() => (granted = true))
    await new Promise((r) => setTimeout(r, 10))
    expect(granted).toBe(false)
    await first.reserve(500) // the oldest holder always proceeds: no deadlock
    expect(b.inUse).toBe(580)
    first.release()
    await waiting
    expect(b.inUse).toBe(50)
    second.release()
    second.release()
    expect(b.inUse).toBe(0)
  })
})
