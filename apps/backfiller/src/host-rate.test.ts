/** The per-host request rate: BACKFILLER_HOST_RPS getRepo requests per second to one PDS (burst the same). */
import { buildSignedRepo } from '@firehose/atproto/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackfiller, type Backfiller } from './backfiller.js'
import { startFakeNetwork, type FakeNetwork } from './test/fake-network.js'
import { deleteStreams, enqueue, newRedis, randomDid, readEvents, testConfig, waitFor } from './test/helpers.js'

describe('per-host rate limit', () => {
  const redis = newRedis()
  let net: FakeNetwork
  let bf: Backfiller
  const config = testConfig({ hostRps: 2, concurrency: 10 })

  beforeAll(async () => {
    net = await startFakeNetwork()
    config.plcUrl = net.url
  })
  afterAll(async () => {
    await bf?.close()
    await net?.close()
    await deleteStreams(redis, config.inStream, config.outStream)
    await redis.quit()
  })

  it('spaces requests to one host even with free slots', async () => {
    const dids: string[] = []
    for (let i = 0; i < 6; i++) {
      const repo = await buildSignedRepo({ did: randomDid(), count: 5 })
      net.add({ did: repo.did, signingKey: repo.signingKey, car: repo.car })
      dids.push(repo.did)
    }
    bf = await startBackfiller(config)
    for (const did of dids) await enqueue(redis, config.inStream, did, net.url)
    await waitFor(async () => (await readEvents(redis, config.outStream)).filter((e) => e.type === 'repo').length === 6, 15_000, 'six repos')
    const times = dids.map((d) => net.requests.get(d)?.[0] ?? 0).sort((a, b) => a - b)
    // burst of 2, then one every 500 ms: the sixth request comes ≥ 2 s after the first
    expect(times[5]! - times[0]!).toBeGreaterThanOrEqual(1800)
  })
})
