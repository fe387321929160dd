import { afterAll, describe, expect, it } from 'vitest'
import { startIngester } from './ingester.js'
import { buildCommitFrame, encodeErrorFrame } from './test/atproto-testing.js'
import { startFrameServer } from './test/frame-server.js'
import { metricValue, newRedis, quietLogger, readEvents, testConfig, waitFor } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())
const did = 'did:plc:reconnect00000000000000'
const commit = (seq: number) =>
  buildCommitFrame({
    seq,
    did,
    ops: [
      {
        action: 'create',
        collection: 'app.bsky.feed.like',
        rkey: `l${seq}`,
        record: {
          $type: 'app.bsky.feed.like',
          subject: { uri: `at://${did}/app.bsky.feed.post/x`, cid: 'bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a' },
          createdAt: new Date().toISOString(),
        },
      },
    ],
  })

describe('reconnects', () => {
  it('resumes from the stored cursor, and goes live after FutureCursor', async () => {
    const frames = [await commit(1), await commit(2)]
    const server = await startFrameServer((conn) => {
      if (conn.cursor !== undefined && conn.cursor > 2) {
        conn.ws.send(encodeErrorFrame('FutureCursor', 'Cursor in the future.'))
        conn.ws.close()
        return
      }
      for (const f of frames) conn.ws.send(f)
    })
    const config = testConfig({ INGESTER_RELAY_HOSTS: server.url })
    // a cursor from a previous life of the relay
    await redis.set(`${config.firehoseStream}:cursor:${server.url.replace('ws://', '')}`, '1000')
    const ing = await startIngester(config, { logger: quietLogger(), http: false })
    try {
      await waitFor(async () => (await redis.xlen(config.firehoseStream)) >= 2, 10_000, 'events after FutureCursor')
      expect(server.connections[0]?.cursor).toBe(1000)
      expect(server.connections[1]?.cursor).toBeUndefined()
      expect((await readEvents(redis, config.firehoseStream)).map((e) => e.seq)).toEqual([1, 2])
      const text = await ing.registry.metrics()
      expect(metricValue(text, 'ingester_error_frames_total', { error: 'FutureCursor' })).toBe(1)
      // the cursor follows the host's new sequence
      await waitFor(
        async () => (await redis.get(`${config.firehoseStream}:cursor:${server.url.replace('ws://', '')}`)) === '2',
        5000,
        'cursor 2',
      )
    } finally {
      await ing.close()
      await server.close()
    }
  })

  it('detects a stalled socket (no frame, no pong) and reconnects', async () => {
    const server = await startFrameServer((conn) => {
      // the first connection goes silent: the server stops reading, so pings get no pong
      if (conn === server.connections[0]) {
        ;(conn.ws as unknown as { _socket: { pause(): void } })._socket.pause()
        return
      }
      void commit(7).then((f) => conn.ws.send(f))
    })
    const config = testConfig({ INGESTER_RELAY_HOSTS: server.url, INGESTER_STALL_TIMEOUT_MS: '300' })
    const ing = await startIngester(config, { logger: quietLogger(), http: false })
    try {
      await waitFor(async () => (await redis.xlen(config.firehoseStream)) >= 1, 10_000, 'event after the stall')
      expect(server.connections.length).toBeGreaterThanOrEqual(2)
      expect(await ing.ready()).toBe(true)
    } finally {
      await ing.close()
      await server.close()
    }
  })
})
