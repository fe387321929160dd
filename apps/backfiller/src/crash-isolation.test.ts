/**
 * Acceptance (#15, finding 2): a repo that kills the process is isolated. A real backfiller child
 * (dist/main.js, BACKFILLER_REPOS_IN_FLIGHT=4) runs three innocent repos next to one that kills it
 * (BACKFILLER_TEST_CRASH_ON_DID: SIGKILL, as the OOM killer does); the test restarts the child
 * each time it dies, as docker's restart policy would. Every innocent repo ends in the output
 * stream, only the crashing one in the DLQ (`crashed`), after BACKFILLER_MAX_CRASHES solo crashes.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { buildSignedRepo } from '@firehose/atproto/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, mainJs } from './test/built-main.js'
import { startFakeNetwork, type FakeNetwork } from './test/fake-network.js'
import { deleteStreams, enqueue, newRedis, randomDid, readDlq, readEvents, testConfig, uniqueName, waitFor } from './test/helpers.js'

describe('a repo that crashes the process', () => {
  const redis = newRedis()
  let net: FakeNetwork
  let child: ChildProcess | undefined
  const config = testConfig()
  const consumer = uniqueName('crashy') // kept across restarts, like a container's hostname

  beforeAll(async () => {
    net = await startFakeNetwork()
    ensureBuilt()
  })
  afterAll(async () => {
    child?.kill('SIGKILL')
    await net?.close()
    await deleteStreams(redis, config.inStream, config.outStream)
    await redis.quit()
  })

  it('is retried alone and dead-lettered; the innocent repos in flight with it are backfilled', async () => {
    const innocent = await Promise.all([1, 2, 3].map(() => buildSignedRepo({ did: randomDid(), count: 1500 })))
    // slow bodies: the innocent repos are still being fetched when the crashing one kills the process
    for (const r of innocent) net.add({ did: r.did, signingKey: r.signingKey, car: r.car, chunkDelayMs: 400 })
    const crasher = await buildSignedRepo({ did: randomDid(), count: 10 })
    net.add({ did: crasher.did, signingKey: crasher.signingKey, car: crasher.car })
    await enqueue(redis, config.inStream, crasher.did, net.url)
    for (const r of innocent) await enqueue(redis, config.inStream, r.did, net.url)

    const spawnChild = () =>
      spawn(process.execPath, [mainJs], {
        env: {
          ...process.env,
          REDIS_URL: config.redisUrl,
          PLC_URL: net.url,
          ALLOW_PRIVATE_NETWORKS: '127.0.0.1/32',
          BACKFILLER_CONSUMER: consumer,
          BACKFILLER_IN_STREAM: config.inStream,
          BACKFILLER_OUT_STREAM: config.outStream,
          BACKFILLER_METRICS_PORT: '0',
          BACKFILLER_REPOS_IN_FLIGHT: '4',
          BACKFILLER_HOST_MAX_SLOTS: '4',
          BACKFILLER_CLAIM_IDLE_MS: '1000',
          BACKFILLER_MAX_RETRIES: '2',
          BACKFILLER_MAX_CRASHES: '2',
          BACKFILLER_RETRY_INITIAL_BACKOFF_MS: '50',
          BACKFILLER_RETRY_MAX_BACKOFF_MS: '200',
          BACKFILLER_TEST_CRASH_ON_DID: crasher.did,
          LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      })

    const settled = async () => {
      const dlq = await readDlq(redis, config.inStream)
      const done = new Set((await readEvents(redis, config.outStream)).filter((e) => e.type === 'repo').map((e) => e.did))
      return dlq.length + done.size >= innocent.length + 1
    }
    let deaths = 0
    const deadline = Date.now() + 90_000
    while (Date.now() < deadline && !(await settled())) {
      child = spawnChild()
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child?.once('exit', (_code, signal) => resolve(signal)))
      let alive = true
      void exited.then(() => {
        alive = false
      })
      await waitFor(
        async () => !alive || (await settled()),
        Math.max(1, deadline - Date.now()),
        'the child to die or the work to settle',
      ).catch(() => undefined)
      if (alive) break
      expect(await exited).toBe('SIGKILL')
      deaths++
      expect(deaths).toBeLessThan(12)
    }
    child?.kill('SIGTERM')
    child = undefined

    const dlq = await readDlq(redis, config.inStream)
    const dlqDids = dlq.map((d) => JSON.parse(d.repo ?? '{}').did as string)
    expect(dlqDids).toEqual([crasher.did])
    expect(dlq[0]?.error).toMatch(/^crashed: /)
    const events = await readEvents(redis, config.outStream)
    for (const r of innocent) {
      expect(events.some((e) => e.type === 'repo' && e.did === r.did)).toBe(true)
      expect(events.filter((e) => e.type === 'create' && e.did === r.did).length).toBeGreaterThanOrEqual(1500)
    }
    // the first death with company, then BACKFILLER_MAX_CRASHES deaths with the crasher alone
    expect(deaths).toBe(3)
  }, 120_000)
})
