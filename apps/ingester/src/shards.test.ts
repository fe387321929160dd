/** STREAM_SHARDS > 1: each DID's events go to one shard `<stream>:{n}`, in order; one cursor per host. */
import { afterAll, describe, expect, it } from 'vitest'
import { allShards, streamForDid } from '@firehose/streams'
import { startIngester } from './ingester.js'
import { buildCommitFrame } from './test/atproto-testing.js'
import { startFrameServer } from './test/frame-server.js'
import { newRedis, quietLogger, readEvents, testConfig, waitFor } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

describe('sharded streams', () => {
  it('writes each DID to its shard, in seq order', async () => {
    const dids = Array.from({ length: 6 }, (_, i) => `did:plc:shard${String(i).padStart(20, '0')}`)
    const frames: Uint8Array[] = []
    for (let seq = 1; seq <= 30; seq++) {
      const did = dids[seq % dids.length] as string
      frames.push(
        await buildCommitFrame({
          seq,
          did,
          ops: [
            {
              action: 'create',
              collection: 'app.bsky.graph.follow',
              rkey: `f${seq}`,
              record: { $type: 'app.bsky.graph.follow', subject: dids[0] as string, createdAt: new Date().toISOString() },
            },
          ],
        }),
      )
    }
    const server = await startFrameServer((conn) => {
      for (const f of frames) conn.ws.send(f)
    })
    const config = testConfig({ INGESTER_RELAY_HOSTS: server.url, STREAM_SHARDS: '3' })
    const ing = await startIngester(config, { logger: quietLogger(), http: false })
    try {
      await waitFor(
        async () => (await redis.get(`${config.firehoseStream}:cursor:${server.url.replace('ws://', '')}`)) === '30',
        10_000,
        'cursor 30',
      )
      let total = 0
      for (const shard of allShards(config.firehoseStream, 3)) {
        const events = await readEvents(redis, shard)
        total += events.length
        for (const e of events) expect(streamForDid(config.firehoseStream, e.did, 3)).toBe(shard)
        expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b))
      }
      expect(total).toBe(30)
      expect(await redis.exists(config.firehoseStream)).toBe(0)
    } finally {
      await ing.close()
      await server.close()
    }
  })
})
