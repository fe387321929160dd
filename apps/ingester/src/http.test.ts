/** /metrics, /health and /ready of a running ingester. */
import { afterAll, describe, expect, it } from 'vitest'
import { startIngester } from './ingester.js'
import { buildCommitFrame } from './test/atproto-testing.js'
import { startFrameServer } from './test/frame-server.js'
import { metricValue, newRedis, quietLogger, testConfig, waitFor } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

describe('metrics and health', () => {
  it('is ready when Redis and every host are connected, and exports ingester_ metrics', async () => {
    const did = 'did:plc:metricsaaaaaaaaaaaaaaaaa'
    const frame = await buildCommitFrame({
      seq: 5,
      did,
      time: new Date(Date.now() - 2000).toISOString(),
      ops: [
        {
          action: 'create',
          collection: 'app.bsky.feed.post',
          rkey: 'm',
          record: { $type: 'app.bsky.feed.post', text: 'm', createdAt: new Date().toISOString() },
        },
      ],
    })
    const relay = await startFrameServer((conn) => conn.ws.send(frame))
    const config = testConfig({ INGESTER_RELAY_HOSTS: `${relay.url},ws://127.0.0.1:1` })
    const ing = await startIngester(config, { logger: quietLogger() })
    const base = `http://127.0.0.1:${ing.port}`
    try {
      expect((await fetch(`${base}/health`)).status).toBe(200)
      // the second host never answers: not ready
      await waitFor(async () => (await redis.xlen(config.firehoseStream)) === 1, 5000, 'event')
      expect((await fetch(`${base}/ready`)).status).toBe(503)
      await waitFor(async () => (await fetch(`${base}/metrics`).then((r) => r.text())).includes('ingester_cursor{'), 5000, 'cursor metric')
      await new Promise((r) => setTimeout(r, 1100))
      const text = await (await fetch(`${base}/metrics`)).text()
      const host = relay.url.replace('ws://', '')
      expect(metricValue(text, 'ingester_frames_received_total', { host, type: 'commit' })).toBe(1)
      expect(metricValue(text, 'ingester_events_written_total', { stream: config.firehoseStream })).toBe(1)
      expect(metricValue(text, 'ingester_last_seq', { host })).toBe(5)
      expect(metricValue(text, 'ingester_cursor', { host })).toBe(5)
      expect(metricValue(text, 'ingester_lag_seconds', { host })).toBeGreaterThanOrEqual(2)
      expect(metricValue(text, 'ingester_connected', { host })).toBe(1)
      expect(metricValue(text, 'ingester_connected', { host: '127.0.0.1:1' })).toBe(0)
      expect(metricValue(text, 'ingester_reconnects_total', { host: '127.0.0.1:1' })).toBeGreaterThanOrEqual(1)
      expect(metricValue(text, 'ingester_stream_length', { stream: config.firehoseStream })).toBe(1)
      expect(text).toContain('ingester_stream_write_batch_seconds_bucket')
      expect(text).toContain('ingester_high_water_mark_paused_seconds_total')
      expect(text).toContain('ingester_build_info')
      expect(text).toContain('process_resident_memory_bytes')
    } finally {
      await ing.close()
      await relay.close()
    }
    // ready once every host is up
    const relay2 = await startFrameServer(() => {})
    const ing2 = await startIngester(testConfig({ INGESTER_RELAY_HOSTS: relay2.url }), { logger: quietLogger() })
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${ing2.port}/ready`)).status === 200, 5000, 'ready')
    } finally {
      await ing2.close()
      await relay2.close()
    }
  })
})
