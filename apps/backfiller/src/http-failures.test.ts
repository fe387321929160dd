/**
 * Acceptance: a PDS answering 429 (Retry-After, RateLimit-Reset, no header), 500, hanging past
 * the timeout, resetting connections. The backfiller waits as told, retries, and finishes or
 * dead-letters; no 429 counts as an attempt.
 */
import { buildSignedRepo } from '@firehose/atproto/testing'
import { describe, expect, it } from 'vitest'
import type { Backfiller } from './backfiller.js'
import { useFakeNetworkBackfiller } from './test/fixture.js'
import type { Step } from './test/fake-network.js'
import { enqueue, metric, randomDid, readDlq, readEvents, waitFor } from './test/helpers.js'

const s429 = (headers?: Record<string, string> | (() => Record<string, string>)): Step => ({
  kind: 'status',
  status: 429,
  headers: headers ?? {},
})
const s500: Step = { kind: 'status', status: 500 }

describe('HTTP failures', () => {
  const fx = useFakeNetworkBackfiller({ maxRetries: 2, httpTimeoutMs: 1500, retryInitialMs: 50, retryMaxMs: 100, reposInFlight: 10 })
  const { redis, config } = fx
  let bf: Backfiller

  it('waits on 429s without counting them, retries failures, dead-letters the hopeless', async () => {
    const cases: Record<string, Step[]> = {
      retryAfter: [s429({ 'retry-after': '1' })],
      // the reset time is taken when the request arrives: set up front, a slow start-up ate into it
      rateLimitReset: [s429(() => ({ 'ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 1) }))],
      noHeader: [s429(), s429()],
      twice500: [s500, s500],
      timeout: [{ kind: 'hang' }],
      reset: [{ kind: 'reset' }],
      truncated: [{ kind: 'truncate' }],
      // five failed requests, only the two 500s are attempts: 3 attempts allowed → succeeds
      many429: [s429({ 'retry-after': '0' }), s429({ 'retry-after': '0' }), s429({ 'retry-after': '0' }), s500, s500],
      hopeless: [s500, s500, s500, s500],
      takendown: [{ kind: 'status', status: 400, body: JSON.stringify({ error: 'RepoTakendown', message: 'Repo has been takendown' }) }],
    }
    const dids: Record<string, string> = {}
    for (const [name, script] of Object.entries(cases)) {
      const repo = await buildSignedRepo({ did: randomDid(), count: 30 })
      fx.net.add({ did: repo.did, signingKey: repo.signingKey, car: repo.car, script: [...script] })
      dids[name] = repo.did
    }
    bf = await fx.start()
    for (const did of Object.values(dids)) await enqueue(redis, config.inStream, did, fx.net.url)

    const done = async () => {
      const events = await readEvents(redis, config.outStream)
      return events.filter((e) => e.type === 'repo').length === 8 && (await readDlq(redis, config.inStream)).length === 2
    }
    await waitFor(done, 30_000, '8 repos backfilled and 2 dead-lettered')

    const events = await readEvents(redis, config.outStream)
    for (const name of ['retryAfter', 'rateLimitReset', 'noHeader', 'twice500', 'timeout', 'reset', 'truncated', 'many429']) {
      const mine = events.filter((e) => e.did === dids[name])
      expect(
        mine.filter((e) => e.type === 'create'),
        name,
      ).toHaveLength(30)
      expect(
        mine.filter((e) => e.type === 'repo'),
        name,
      ).toHaveLength(1)
    }
    // waited as told: the second request came at least ~1 s after the 429
    for (const name of ['retryAfter', 'rateLimitReset']) {
      const [first, second] = fx.net.requests.get(dids[name]!) ?? []
      expect(second! - first!, name).toBeGreaterThanOrEqual(900)
    }
    const dlq = await readDlq(redis, config.inStream)
    const byDid = (did: string | undefined) => dlq.find((d) => JSON.parse(d.repo ?? '{}').did === did)
    expect(byDid(dids.hopeless)?.attempts).toBe('3')
    expect(byDid(dids.hopeless)?.error).toMatch(/HTTP 500/)
    expect(byDid(dids.takendown)?.attempts).toBe('1')
    expect(byDid(dids.takendown)?.error).toMatch(/RepoTakendown/)
    expect(fx.net.requests.get(dids.takendown!)).toHaveLength(1)
    expect(fx.net.requests.get(dids.many429!)).toHaveLength(6)

    // attempts after the first: twice500 2, timeout 1, reset 1, truncated 1, many429 2, hopeless 2
    expect(await metric(bf.port, 'backfiller_retries_attempted_total')).toBe(9)
    expect(await metric(bf.port, 'backfiller_rate_limited_total')).toBe(7)
    expect(await metric(bf.port, 'backfiller_car_fetch_errors_total', { kind: 'timeout' })).toBe(1)
    expect(await metric(bf.port, 'backfiller_car_fetch_errors_total', { kind: 'status_5xx' })).toBe(7)
    expect(await metric(bf.port, 'backfiller_car_fetch_errors_total', { kind: 'network' })).toBe(2)
    expect(await metric(bf.port, 'backfiller_repos_failed_total', { reason: 'unavailable' })).toBe(1)
    expect(await metric(bf.port, 'backfiller_repos_dead_lettered_total')).toBe(2)
    expect(await metric(bf.port, 'backfiller_repos_processed_total')).toBe(8)
  })
})
