/**
 * A repo on its last attempt when ANOTHER repo kills the process (isolation.ts): the death is not
 * its attempt. The worker finds it delivered once too often when it reclaims it; before the fix it
 * was dead-lettered there ("delivered N times without being acked"), untried, and its run marker
 * stayed in `<stream>_running` for good.
 */
import { buildSignedRepo } from '@firehose/atproto/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackfiller, type Backfiller } from './backfiller.js'
import { runningKey } from './isolation.js'
import { startFakeNetwork, type FakeNetwork } from './test/fake-network.js'
import { deleteStreams, enqueue, newRedis, randomDid, readDlq, readEvents, testConfig, waitFor } from './test/helpers.js'

describe('a repo in flight on its last attempt when the process dies', () => {
  const redis = newRedis()
  const config = testConfig({ maxRetries: 1, claimIdleMs: 300 })
  let net: FakeNetwork
  let bf: Backfiller | undefined

  beforeAll(async () => {
    net = await startFakeNetwork()
    config.plcUrl = net.url
  })
  afterAll(async () => {
    await bf?.close()
    await net?.close()
    await redis.del(runningKey(config.inStream))
    await deleteStreams(redis, config.inStream, config.outStream)
    await redis.quit()
  })

  it('is put back uncharged and backfilled, not dead-lettered; no run marker is left', async () => {
    const repo = await buildSignedRepo({ did: randomDid(), count: 3 })
    net.add({ did: repo.did, signingKey: repo.signingKey, car: repo.car })
    const id = await enqueue(redis, config.inStream, repo.did, net.url)
    // a process that died: it read the job, failed once, took it again (its last attempt:
    // maxRetries 1 = 2 deliveries) and died while the repo ran, its marker still there
    await redis.xgroup('CREATE', config.inStream, config.group, '0', 'MKSTREAM')
    await redis.xreadgroup('GROUP', config.group, 'dead', 'COUNT', 1, 'STREAMS', config.inStream, '>')
    await redis.xclaim(config.inStream, config.group, 'dead', 0, id)
    await redis.hset(runningKey(config.inStream), id, JSON.stringify({ alone: false, at: Date.now(), consumer: 'dead' }))
    await new Promise((r) => setTimeout(r, 400)) // idle past claimIdleMs

    bf = await startBackfiller(config)
    await waitFor(
      async () => (await readEvents(redis, config.outStream)).some((e) => e.type === 'repo' && e.did === repo.did),
      20_000,
      'the repo backfilled',
    )
    expect(await readDlq(redis, config.inStream)).toEqual([])
    await waitFor(async () => (await redis.hlen(runningKey(config.inStream))) === 0, 5_000, 'no run marker left')
  })
})
