/**
 * Identity: the DID document cache is shared through Redis, a retry re-resolves (a PDS that
 * moved), and a document naming no PDS falls back to the job's host.
 */
import { buildSignedRepo } from '@firehose/atproto/testing'
import { describe, expect, it } from 'vitest'
import type { Backfiller } from './backfiller.js'
import { useFakeNetworkBackfiller } from './test/fixture.js'
import type { DidDocument } from '@atproto/identity'
import { didCacheKey, slim } from './did-cache.js'
import { didDocument } from './test/fake-network.js'
import { enqueue, metric, randomDid, readEvents, waitFor } from './test/helpers.js'

describe('identity', () => {
  const fx = useFakeNetworkBackfiller({ maxRetries: 2 })
  const { redis, config } = fx
  let bf: Backfiller

  it('uses the shared cache, re-resolves on retry, and falls back to the job host', async () => {
    const moved = await buildSignedRepo({ did: randomDid(), count: 10 })
    const noPds = await buildSignedRepo({ did: randomDid(), count: 10 })
    fx.net.add({ did: moved.did, signingKey: moved.signingKey, car: moved.car })
    fx.net.add({ did: noPds.did, signingKey: noPds.signingKey, car: noPds.car, noPds: true })
    // another instance cached the document while the PDS lived elsewhere (a closed port)
    const stale = didDocument(moved.did, moved.signingKey, 'http://127.0.0.1:9')
    await redis.set(didCacheKey(moved.did), JSON.stringify({ ...slim(stale as DidDocument), updatedAt: Date.now() }), 'PX', 60_000)

    bf = await fx.start()
    await enqueue(redis, config.inStream, moved.did, 'http://127.0.0.1:9')
    await enqueue(redis, config.inStream, noPds.did, fx.net.url)
    await waitFor(
      async () => (await readEvents(redis, config.outStream)).filter((e) => e.type === 'repo').length === 2,
      15_000,
      'both repos',
    )

    expect(await metric(bf.port, 'backfiller_retries_attempted_total')).toBe(1) // the moved repo, once
    expect(await metric(bf.port, 'backfiller_car_fetch_errors_total', { kind: 'network' })).toBe(1)
    // only what the backfiller uses is kept: PDS, key, handle
    const cached = JSON.parse((await redis.get(didCacheKey(moved.did))) ?? '{}') as Record<string, unknown>
    expect(Object.keys(cached).sort()).toEqual(['handle', 'pds', 'signingKey', 'updatedAt'])
    expect(cached.pds).toBe(fx.net.url)
    expect(cached.signingKey).toBe(moved.signingKey)
  })
})
