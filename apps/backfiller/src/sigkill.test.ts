/**
 * Acceptance: a backfiller process (dist/main.js) SIGKILLed mid-repo leaves its entry pending;
 * another instance reclaims it after BACKFILLER_CLAIM_IDLE_MS and completes it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { buildSignedRepo } from '@firehose/atproto/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackfiller, type Backfiller } from './backfiller.js'
import { ensureBuilt, mainJs } from './test/built-main.js'
import { startFakeNetwork, type FakeNetwork } from './test/fake-network.js'
import { deleteStreams, enqueue, newRedis, randomDid, readEvents, testConfig, uniqueName, waitFor } from './test/helpers.js'

describe('SIGKILL mid-repo', () => {
  const redis = newRedis()
  let net: FakeNetwork
  let child: ChildProcess | undefined
  let bf: Backfiller | undefined
  const config = testConfig({ claimIdleMs: 1000 })

  beforeAll(async () => {
    net = await startFakeNetwork()
    config.plcUrl = net.url
    ensureBuilt()
  })
  afterAll(async () => {
    child?.kill('SIGKILL')
    await bf?.close()
    await net?.close()
    await deleteStreams(redis, config.inStream, config.outStream)
    await redis.quit()
  })

  it('another instance reclaims the entry and completes it', async () => {
    const repo = await buildSignedRepo({ did: randomDid(), count: 4000 })
    // slow body: the child is still fetching when it is killed
    net.add({ did: repo.did, signingKey: repo.signingKey, car: repo.car, chunkDelayMs: 300 })
    await enqueue(redis, config.inStream, repo.did, net.url)

    child = spawn(process.execPath, [mainJs], {
      env: {
        ...process.env,
        REDIS_URL: config.redisUrl,
        PLC_URL: net.url,
        ALLOW_PRIVATE_NETWORKS: '127.0.0.1/32', // the fake network, nothing wider
        BACKFILLER_CONSUMER: uniqueName('doomed'),
        BACKFILLER_IN_STREAM: config.inStream,
        BACKFILLER_OUT_STREAM: config.outStream,
        BACKFILLER_METRICS_PORT: '0',
        BACKFILLER_CLAIM_IDLE_MS: '1000',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child?.once('exit', (_code, signal) => resolve(signal)))
    await waitFor(() => (net.requests.get(repo.did)?.length ?? 0) === 1, 20_000, 'the child to start fetching')
    await new Promise((r) => setTimeout(r, 400))
    child.kill('SIGKILL')
    expect(await exited).toBe('SIGKILL')
    child = undefined
    expect(await readEvents(redis, config.outStream)).toEqual([])
    const pending = (await redis.xpending(config.inStream, config.group)) as [number]
    expect(Number(pending[0])).toBe(1)

    net.repos.get(repo.did)!.chunkDelayMs = 0
    bf = await startBackfiller(config)
    await waitFor(
      async () => (await readEvents(redis, config.outStream)).some((e) => e.type === 'repo'),
      20_000,
      'the survivor to complete the repo',
    )
    const events = await readEvents(redis, config.outStream)
    expect(events.filter((e) => e.type === 'create')).toHaveLength(4000)
    expect(net.requests.get(repo.did)).toHaveLength(2)
    await waitFor(
      async () => Number(((await redis.xpending(config.inStream, config.group)) as [number])[0]) === 0,
      5000,
      'the entry to be acked',
    )
  })
})
