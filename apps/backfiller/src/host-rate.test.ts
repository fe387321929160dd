/** The per-host request rate: BACKFILLER_HOST_RPS getRepo requests per second to one PDS (burst the same). */
import { buildSignedRepo } from '@firehose/atproto/testing'
import { describe, expect, it } from 'vitest'
import type { Backfiller } from './backfiller.js'
import { useFakeNetworkBackfiller } from './test/fixture.js'
import { enqueue, randomDid, readEvents, waitFor } from './test/helpers.js'

describe('per-host rate limit', () => {
  const fx = useFakeNetworkBackfiller({ hostRps: 2, concurrency: 10 })
  const { redis, config } = fx
  let bf: Backfiller

  it('spaces requests to one host even with free slots', async () => {
    const dids: string[] = []
    for (let i = 0; i < 6; i++) {
      const repo = await buildSignedRepo({ did: randomDid(), count: 5 })
      fx.net.add({ did: repo.did, signingKey: repo.signingKey, car: repo.car })
      dids.push(repo.did)
    }
    bf = await fx.start()
    for (const did of dids) await enqueue(redis, config.inStream, did, fx.net.url)
    await waitFor(async () => (await readEvents(redis, config.outStream)).filter((e) => e.type === 'repo').length === 6, 15_000, 'six repos')
    const times = dids.map((d) => fx.net.requests.get(d)?.[0] ?? 0).sort((a, b) => a - b)
    // burst of 2, then one every 500 ms: the sixth request comes ≥ 2 s after the first
    expect(times[5]! - times[0]!).toBeGreaterThanOrEqual(1800)
  })
})
