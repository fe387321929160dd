/** The per-host request rate: BACKFILLER_HOST_RPS getRepo requests per second to one PDS (burst the same). */
import { buildSignedRepo } from '@firehose/atproto/testing'
import { describe, expect, it } from 'vitest'
import { useFakeNetworkBackfiller } from './test/fixture.js'
import { enqueue, randomDid, readEvents, waitFor } from './test/helpers.js'

describe('per-host rate limit', () => {
  const fx = useFakeNetworkBackfiller({ hostRps: 2, reposInFlight: 10 })
  const { redis, config } = fx

  it('spaces requests to one host even with free slots', async () => {
    const dids: string[] = []
    for (let i = 0; i < 6; i++) {
      const repo = await buildSignedRepo({ did: randomDid(), count: 5 })
      fx.net.add({ did: repo.did, signingKey: repo.signingKey, car: repo.car })
      dids.push(repo.did)
    }
    await fx.start()
    const enqueuedAt = Date.now()
    for (const did of dids) await enqueue(redis, config.inStream, did, fx.net.url)
    await waitFor(
      async () => (await readEvents(redis, config.outStream)).filter((e) => e.type === 'repo').length === 6,
      15_000,
      'six repos',
    )
    const times = dids.map((d) => fx.net.requests.get(d)?.[0] ?? 0).sort((a, b) => a - b)
    // burst of 2 (the host's bucket is made full at its first request, after the enqueue), then
    // one every 500 ms: the sixth request is sent ≥ 2 s after the jobs were enqueued. (Measured
    // from the enqueue, not from the first request's arrival: a slow first request, on a loaded
    // machine, would shorten that span without the limiter being wrong.)
    expect(times[5]! - enqueuedAt).toBeGreaterThanOrEqual(1980)
  })
})
