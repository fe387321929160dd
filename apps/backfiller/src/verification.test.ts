/**
 * Acceptance: tampered CARs (bad signature, another key, wrong DID, missing record block, a block
 * not matching its CID, a truncated body) are rejected, counted (verification_errors /
 * car_parse_errors), retried as configured, dead-lettered — and nothing of them is emitted — while
 * a good repo next to them is backfilled.
 */
import { buildSignedRepo } from '@firehose/atproto/testing'
import { describe, expect, it } from 'vitest'
import type { Backfiller } from './backfiller.js'
import { useFakeNetworkBackfiller } from './test/fixture.js'
import { enqueue, metric, randomDid, readDlq, readEvents, waitFor } from './test/helpers.js'
import { tamperedCars } from './test/tamper.js'

describe.each([{ verifyThreads: 1 }, { verifyThreads: 0 }])('tampered repos (verify threads: $verifyThreads)', ({ verifyThreads }) => {
  const fx = useFakeNetworkBackfiller({ maxRetries: 2, verifyThreads })
  const { redis, config } = fx
  let bf: Backfiller

  it('dead-letters each after 1 + BACKFILLER_MAX_RETRIES attempts and emits none of them', async () => {
    const good = await buildSignedRepo({ did: randomDid(), count: 40 })
    fx.net.add({ did: good.did, signingKey: good.signingKey, car: good.car })
    const bad: { did: string; name: string; kind: string }[] = []
    for (let i = 0; i < 6; i++) {
      const repo = await buildSignedRepo({ did: randomDid(), count: 20 })
      const t = (await tamperedCars(repo))[i]!
      fx.net.add({ did: repo.did, signingKey: repo.signingKey, car: t.car })
      bad.push({ did: repo.did, name: t.name, kind: t.kind })
    }
    bf = await fx.start()
    for (const b of bad) await enqueue(redis, config.inStream, b.did, fx.net.url)
    await enqueue(redis, config.inStream, good.did, fx.net.url)

    await waitFor(async () => (await readDlq(redis, config.inStream)).length === bad.length, 30_000, 'all tampered repos dead-lettered')
    await waitFor(async () => (await readEvents(redis, config.outStream)).some((e) => e.type === 'repo'), 10_000, 'good repo emitted')

    const events = await readEvents(redis, config.outStream)
    expect(events.filter((e) => e.did !== good.did)).toEqual([])
    expect(events.filter((e) => e.type === 'create')).toHaveLength(40)

    const dlq = await readDlq(redis, config.inStream)
    for (const b of bad) {
      const entry = dlq.find((d) => JSON.parse(d.repo ?? '{}').did === b.did)
      expect(entry, b.name).toBeDefined()
      expect(entry?.attempts, b.name).toBe('3')
      expect(entry?.consumer).toBe(config.consumer)
      expect(entry?.error, b.name).toMatch(b.kind === 'parse' ? /CarParseError/ : /VerificationError/)
      expect(fx.net.requests.get(b.did)?.length, b.name).toBe(3)
    }
    expect(await metric(bf.port, 'backfiller_car_parse_errors_total')).toBe(3)
    expect(await metric(bf.port, 'backfiller_verification_errors_total')).toBe(15)
    expect(await metric(bf.port, 'backfiller_repos_dead_lettered_total')).toBe(6)
    expect(await metric(bf.port, 'backfiller_retries_attempted_total')).toBe(12)
    expect(await metric(bf.port, 'backfiller_repos_processed_total')).toBe(1)
    expect(await metric(bf.port, 'backfiller_records_extracted_total')).toBe(40)
  })
})
