/** #identity, #account (every status) and #sync as a relay sends them. */
import { afterAll, describe, expect, it } from 'vitest'
import { decodeRepoJob } from '@firehose/streams'
import { startIngester } from './ingester.js'
import { encodeMessageFrame } from './test/atproto-testing.js'
import { startFrameServer } from './test/frame-server.js'
import { newRedis, quietLogger, readEvents, readStream, testConfig, waitFor } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

describe('identity, account and sync messages', () => {
  it('maps each to its event, and #sync to a repo_backfill job', async () => {
    const did = 'did:plc:messagesaaaaaaaaaaaaaaaa'
    const time = '2026-01-01T00:00:00.000Z'
    const statuses = ['takendown', 'suspended', 'deleted', 'deactivated', 'desynchronized', 'throttled']
    const frames = [
      encodeMessageFrame('#identity', { seq: 1, did, time, handle: 'alice.test' }),
      encodeMessageFrame('#identity', { seq: 2, did, time }),
      ...statuses.map((status, i) => encodeMessageFrame('#account', { seq: 3 + i, did, time, active: false, status })),
      encodeMessageFrame('#account', { seq: 9, did, time, active: true }),
      encodeMessageFrame('#sync', { seq: 10, did, time, rev: '3lbrevaaaaaaa', blocks: { $bytes: '' } }),
    ]
    const server = await startFrameServer((conn) => {
      for (const f of frames) conn.ws.send(f)
    })
    const config = testConfig({ INGESTER_RELAY_HOSTS: server.url })
    const ing = await startIngester(config, { logger: quietLogger(), http: false })
    try {
      await waitFor(
        async () => (await redis.get(`${config.firehoseStream}:cursor:${server.url.replace('ws://', '')}`)) === '10',
        10_000,
        'cursor 10',
      )
      expect(await readEvents(redis, config.firehoseStream)).toEqual([
        { type: 'identity', seq: 1, time, did, handle: 'alice.test' },
        { type: 'identity', seq: 2, time, did },
        ...statuses.map((status, i) => ({ type: 'account', seq: 3 + i, time, did, active: false, status })),
        { type: 'account', seq: 9, time, did, active: true },
      ])
      const jobs = (await readStream(redis, config.repoStream)).map(([, f]) => decodeRepoJob(f.repo ?? ''))
      expect(jobs).toEqual([{ did, host: server.url.replace('ws://', 'http://'), rev: '3lbrevaaaaaaa' }])
    } finally {
      await ing.close()
      await server.close()
    }
  })
})
