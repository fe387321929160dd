/**
 * A full `repo_backfill` does not stop the relay: with a mark of 10, eleven `#sync` frames, then a
 * `#commit`: every `#sync` job reaches `repo_backfill` (they pass the mark), the commit reaches
 * `firehose_live`, and the cursor covers all twelve frames only once they are all in Redis.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { encodeRepoJob } from '@firehose/streams'
import { startIngester } from './ingester.js'
import { buildCommitFrame, encodeMessageFrame } from './test/atproto-testing.js'
import { startFrameServer } from './test/frame-server.js'
import { newRedis, quietLogger, readEvents, readStream, testConfig, waitFor } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('#sync jobs and the high-water mark of repo_backfill', () => {
  it('eleven #sync frames then a #commit with a mark of 10: every job and the commit are written', async () => {
    const dids = Array.from({ length: 11 }, (_, i) => `did:plc:sync${String(i).padStart(20, '0')}`)
    const time = new Date().toISOString()
    const syncs = dids.map((did, i) =>
      encodeMessageFrame('#sync', { seq: i + 1, did, time, rev: `3lbre2222222${'234567abcdefghij'[i]}`, blocks: { $bytes: '' } }),
    )
    const commitDid = 'did:plc:commitaaaaaaaaaaaaaaaaaa'
    const commit = await buildCommitFrame({
      seq: 12,
      did: commitDid,
      ops: [
        {
          action: 'create',
          collection: 'app.bsky.feed.post',
          rkey: 'afterthesyncs',
          record: { $type: 'app.bsky.feed.post', text: 'hi', createdAt: time },
        },
      ],
    })
    const server = await startFrameServer((conn) => {
      void (async () => {
        // one by one, so that the stream reaches its mark while the relay still has frames to send
        for (const f of syncs) {
          conn.ws.send(f)
          await sleep(40)
        }
        await sleep(300)
        conn.ws.send(commit)
      })()
    })
    const config = testConfig({ INGESTER_RELAY_HOSTS: server.url, INGESTER_HIGH_WATER_MARK: '10', INGESTER_WRITE_BATCH: '5' })
    const ing = await startIngester(config, { logger: quietLogger(), http: false })
    const host = server.url.replace('ws://', '')
    try {
      await waitFor(async () => (await redis.get(`${config.firehoseStream}:cursor:${host}`)) === '12', 15_000, 'cursor 12')
      const events = await readEvents(redis, config.firehoseStream)
      expect(events.map((e) => [e.type, e.did, e.seq])).toEqual([['create', commitDid, 12]])
      const jobs = (await readStream(redis, config.repoStream)).map(([, f]) => f.repo)
      const httpBase = server.url.replace('ws://', 'http://')
      expect(jobs).toEqual(dids.map((did, i) => encodeRepoJob({ did, host: httpBase, rev: `3lbre2222222${'234567abcdefghij'[i]}` })))
      // the relay was never paused for repo_backfill
      expect(ing.hosts[0]?.connected).toBe(true)
    } finally {
      await ing.close()
      await server.close()
    }
  })
})
