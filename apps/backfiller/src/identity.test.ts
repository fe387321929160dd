/**
 * Identity: the DID document cache is shared through Redis, a retry re-resolves (a PDS that
 * moved), and a document naming no PDS falls back to the job's host.
 */
import { buildSignedRepo } from '@firehose/atproto/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackfiller, type Backfiller } from './backfiller.js'
import { didCacheKey } from './did-cache.js'
import { didDocument, startFakeNetwork, type FakeNetwork } from './test/fake-network.js'
import { deleteStreams, enqueue, metric, newRedis, randomDid, readEvents, testConfig, waitFor } from './test/helpers.js'

describe('identity', () => {
  const redis = newRedis()
  let net: FakeNetwork
  let bf: Backfiller
  const config = testConfig({ maxRetries: 2 })

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

  it('uses the shared cache, re-resolves on retry, and falls back to the job host', async () => {
    const moved = await buildSignedRepo({ did: randomDid(), count: 10 })
    const noPds = await buildSignedRepo({ did: randomDid(), count: 10 })
    net.add({ did: moved.did, signingKey: moved.signingKey, car: moved.car })
    net.add({ did: noPds.did, signingKey: noPds.signingKey, car: noPds.car, noPds: true })
    // another instance cached the document while the PDS lived elsewhere (a closed port)
    const stale = didDocument(moved.did, moved.signingKey, 'http://127.0.0.1:9')
    await redis.set(didCacheKey(moved.did), JSON.stringify({ doc: stale, updatedAt: Date.now() }), 'PX', 60_000)

    bf = await startBackfiller(config)
    await enqueue(redis, config.inStream, moved.did, 'http://127.0.0.1:9')
    await enqueue(redis, config.inStream, noPds.did, net.url)
    await waitFor(async () => (await readEvents(redis, config.outStream)).filter((e) => e.type === 'repo').length === 2, 15_000, 'both repos')

    expect(await metric(bf.port, 'backfiller_retries_attempted_total')).toBe(1) // the moved repo, once
    expect(await metric(bf.port, 'backfiller_car_fetch_errors_total', { kind: 'network' })).toBe(1)
    const cached = JSON.parse((await redis.get(didCacheKey(moved.did))) ?? '{}') as { doc: { service: { serviceEndpoint: string }[] } }
    expect(cached.doc.service[0]?.serviceEndpoint).toBe(net.url)
  })
})
