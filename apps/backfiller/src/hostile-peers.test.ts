/**
 * Acceptance (issue 15, hostile peers): real hostile servers from @firehose/testkit/hostile next to
 * innocent repos. A DID document pointing at a loopback address outside ALLOW_PRIVATE_NETWORKS
 * and a PDS redirecting there (the canary on 127.0.0.2 must see no connection), an amplifying
 * CAR, 429 forever (Retry-After 300), a body that never ends, a 50 MB did.json. Each is refused
 * with a metric and a log line, the process and its memory stay up and bounded, and the innocent
 * repos are all backfilled.
 */
import { createLogger } from '@firehose/service'
import { buildSignedRepo } from '@firehose/atproto/testing'
import { buildAmplifyingRepo, startCanary, startHostilePds, type Canary, type HostilePds } from '@firehose/testkit/hostile'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackfiller, type Backfiller } from './backfiller.js'
import { deleteStreams, enqueue, metric, newRedis, randomDid, readDlq, readEvents, testConfig, waitFor } from './test/helpers.js'

describe('hostile peers', () => {
  const redis = newRedis()
  const config = testConfig({
    reposInFlight: 6,
    maxRetries: 1,
    retryInitialMs: 50,
    retryMaxMs: 100,
    httpTimeoutMs: 3000,
    maxRateLimitWaitMs: 1000,
    maxRateLimitWaits: 2,
    maxRateLimitTotalMs: 2000,
    hostMaxSlots: 2,
    maxJsonPerCarByte: 8,
    minJsonBudgetBytes: 1024 * 1024,
    maxDocumentBytes: 64 * 1024,
  })
  const lines: string[] = []
  let hostile: HostilePds
  let good: HostilePds
  let canary: Canary
  let bf: Backfiller | undefined

  beforeAll(async () => {
    canary = await startCanary('127.0.0.2')
    hostile = await startHostilePds()
    good = await startHostilePds()
    config.plcUrl = hostile.url // the hostile server is the PLC directory too
  })
  afterAll(async () => {
    await bf?.close()
    await Promise.all([hostile?.close(), good?.close(), canary?.close()])
    await deleteStreams(redis, config.inStream, config.outStream)
    await redis.quit()
  })

  it('refuses each hostile input with a metric and a log line, stays up and bounded, and backfills the rest', async () => {
    const dids: Record<string, string> = {}
    const add = async (name: string, behaviour: Parameters<HostilePds['add']>[0]['behaviour'], car?: Uint8Array) => {
      const repo = await buildSignedRepo({ did: randomDid(), count: 20 })
      hostile.add({ did: repo.did, signingKey: repo.signingKey, behaviour })
      if (car === undefined && behaviour.kind === 'points-elsewhere' && behaviour.pds === good.url) {
        good.add({ did: repo.did, signingKey: repo.signingKey, behaviour: { kind: 'serve', car: repo.car } })
      }
      dids[name] = repo.did
    }
    for (let i = 0; i < 4; i++) await add(`innocent${i}`, { kind: 'points-elsewhere', pds: good.url })
    await add('toCanary', { kind: 'points-elsewhere', pds: canary.url })
    await add('redirect', { kind: 'redirect', to: `${canary.url}/xrpc/com.atproto.sync.getRepo` })
    for (let i = 0; i < 6; i++) await add(`limited${i}`, { kind: 'rate-limit-forever', retryAfterSecs: 300 })
    await add('slow', { kind: 'slow-body', intervalMs: 200 })
    // 2,000 leaves on one 100 kB record: a ~190 kB CAR asking for 200 MB of JSON
    const amp = await buildAmplifyingRepo({ did: randomDid(), leaves: 2000, recordBytes: 100_000 })
    hostile.add({ did: amp.did, signingKey: amp.signingKey, behaviour: { kind: 'serve', car: amp.car } })
    dids.amplify = amp.did
    dids.hugeDidWeb = hostile.didWeb

    const logger = createLogger('backfiller', 'info', { write: (line: string) => void lines.push(line) })
    const rssBefore = process.memoryUsage().rss
    let rssPeak = rssBefore
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50)
    bf = await startBackfiller(config, { logger })
    const bad = Object.keys(dids).filter((n) => !n.startsWith('innocent'))
    // the hostile ones first: they would hold every slot
    for (const name of [...bad, ...Object.keys(dids).filter((n) => n.startsWith('innocent'))]) {
      await enqueue(redis, config.inStream, dids[name]!, name === 'hugeDidWeb' ? hostile.url : '')
    }

    await waitFor(
      async () => (await readEvents(redis, config.outStream)).filter((e) => e.type === 'repo').length === 4,
      60_000,
      'the four innocent repos',
    )
    await waitFor(async () => (await readDlq(redis, config.inStream)).length === bad.length, 60_000, 'every hostile job dead-lettered')
    clearInterval(sampler)

    const events = await readEvents(redis, config.outStream)
    for (let i = 0; i < 4; i++) expect(events.filter((e) => e.did === dids[`innocent${i}`] && e.type === 'create')).toHaveLength(20)
    expect(events.filter((e) => bad.some((n) => dids[n] === e.did))).toHaveLength(0)
    expect(bf.healthy()).toBe(true)

    // SSRF: nothing reached the canary, directly or through the redirect
    expect(canary.connections()).toBe(0)
    expect(await metric(bf.port, 'backfiller_peer_requests_refused_total', { reason: 'loopback' })).toBeGreaterThanOrEqual(4)
    expect(await metric(bf.port, 'backfiller_car_fetch_errors_total', { kind: 'refused' })).toBe(4)
    // amplification: refused as too-large at once, by the JSON budget
    expect(await metric(bf.port, 'backfiller_output_budget_exceeded_total', { budget: 'json_bytes' })).toBe(1)
    // 429 forever: each attempt gives up after its waits; the hosts' share keeps the innocent going
    // (at least once each: on a loaded machine an attempt may fail earlier, e.g. a slow PLC answer)
    expect(await metric(bf.port, 'backfiller_car_fetch_errors_total', { kind: 'rate_limited' })).toBeGreaterThanOrEqual(6)
    // the slow body: cut by the request's deadline
    expect(await metric(bf.port, 'backfiller_car_fetch_errors_total', { kind: 'timeout' })).toBe(2)
    // the 50 MB did.json: read no further than the cap (what the server pushed into socket buffers aside)
    expect(hostile.didWebBytesSent()).toBeLessThan(16 * 1024 * 1024)
    expect(await metric(bf.port, 'backfiller_repos_failed_total', { reason: 'identity' })).toBe(2)
    // memory stayed bounded: no 200 MB of JSON, no 50 MB document
    expect(rssPeak - rssBefore).toBeLessThan(150 * 1024 * 1024)

    const dlq = await readDlq(redis, config.inStream)
    const errorOf = (name: string) => dlq.find((d) => JSON.parse(d.repo ?? '{}').did === dids[name])?.error ?? ''
    expect(errorOf('toCanary')).toMatch(/refused: peer address refused \(loopback\)/)
    expect(errorOf('redirect')).toMatch(/refused: peer address refused \(loopback\)/)
    expect(errorOf('amplify')).toMatch(/too-large/)
    expect(dlq.find((d) => JSON.parse(d.repo ?? '{}').did === dids.amplify)?.attempts).toBe('1')
    expect(dlq.filter((d) => /still rate limited/.test(d.error ?? '')).length).toBeGreaterThanOrEqual(1)
    expect(errorOf('slow')).toMatch(/no usable answer/)
    expect(errorOf('hugeDidWeb')).toMatch(/exceeds 65536 bytes/)
    // nothing the peers sent, nor refused-vs-timeout detail, in the dead letters
    for (const d of dlq) expect(d.error).not.toMatch(/secret|slow down|ECONN|EHOST|socket|other side/i)

    const logged = lines.join('')
    expect(logged).toMatch(/peer address refused by the outgoing-request policy/)
    for (const name of bad) expect(logged, name).toContain(dids[name]!)
  })
})
