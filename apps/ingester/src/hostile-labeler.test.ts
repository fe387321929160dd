/**
 * A hostile labeler (packages/testkit/src/hostile/labeler.ts, a real server): labels whose `src`
 * names another labeler, labels signed with a key that is not the DID's, a far-future `cts`, and a
 * frame past INGESTER_MAX_FRAME_BYTES. Each is refused with a metric and a log line; the process
 * stays up and every honest label of the same frames and connection reaches `label_live`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encode as encodeCbor } from '@atcute/cbor'
import { importDidKey, verifyLabelSignature } from '@firehose/atproto'
import { decodeLabelEntry, type Label } from '@firehose/streams'
import { HostileLabeler } from '@firehose/testkit'
import { startIngester } from './ingester.js'
import { captureLogger } from './test/log-capture.js'
import { metricValue, newRedis, readStream, testConfig, waitFor } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

const OTHER_LABELER = 'did:plc:otherlabelerxxxxxxxxxxxxx'
const victim = 'at://did:plc:victimaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3kaaaaaaaaaaa'

describe('hostile labeler', () => {
  let labeler: HostileLabeler
  beforeAll(async () => {
    labeler = await HostileLabeler.start()
    const day = 24 * 3600 * 1000
    labeler.sendLabels([
      await labeler.sign({ uri: 'did:plc:someoneaaaaaaaaaaaaaaaaa', val: 'good-1' }),
      // negates another labeler's takedown, in that labeler's name
      await labeler.sign({ uri: victim, val: '!takedown', neg: true, src: OTHER_LABELER }),
      await labeler.sign({ uri: victim, val: 'wrong-key' }, labeler.wrongKeypair),
      // a far-future cts that would make the label stick over later ones
      await labeler.sign({ uri: victim, val: 'future', cts: new Date(Date.now() + day).toISOString() }),
      await labeler.sign({ uri: 'did:plc:someoneaaaaaaaaaaaaaaaaa', val: 'good-2', cts: new Date(Date.now() + 60_000).toISOString() }), // within the skew
    ])
    labeler.sendOversized(200_000)
    labeler.sendLabels([await labeler.sign({ uri: 'did:plc:otheroneaaaaaaaaaaaaaaaaa', val: 'good-3' })])
  })
  afterAll(() => labeler.close())

  it('refuses each forged label and the oversized frame, counted and logged; writes every honest label', async () => {
    const { logger, lines } = captureLogger()
    const config = testConfig({
      INGESTER_LABELER_HOSTS: `${labeler.did}@${labeler.url}`,
      PLC_URL: labeler.plcUrl,
      INGESTER_MAX_FRAME_BYTES: String(64 * 1024),
    })
    const ing = await startIngester(config, { logger, http: false })
    try {
      await waitFor(async () => (await redis.get(`${config.labelStream}:cursor:${labeler.host}`)) === '2', 15_000, 'label cursor 2')
      const events = (await readStream(redis, config.labelStream)).flatMap(([, f]) => decodeLabelEntry(f))
      // at least once: a frame may be written again after the oversized frame's reconnect
      const vals = [...new Set(events.map((e) => e.label.val))]
      expect(vals).toEqual(['good-1', 'good-2', 'good-3'])
      const key = await importDidKey(labeler.keypair.did())
      for (const { label } of events) {
        const { sig, ...unsigned } = label as Label & { sig: { $bytes: string } }
        expect(label.src).toBe(labeler.did)
        expect(await verifyLabelSignature(key, encodeCbor(unsigned), Buffer.from(sig.$bytes, 'base64'))).toBe(true)
      }

      const text = await ing.registry.metrics()
      const host = labeler.host
      expect(metricValue(text, 'ingester_labels_refused_total', { host, reason: 'src-mismatch' })).toBeGreaterThanOrEqual(1)
      expect(metricValue(text, 'ingester_labels_refused_total', { host, reason: 'bad-signature' })).toBeGreaterThanOrEqual(1)
      expect(metricValue(text, 'ingester_labels_refused_total', { host, reason: 'future-cts' })).toBeGreaterThanOrEqual(1)
      expect(metricValue(text, 'ingester_oversized_frames_total', { host })).toBe(1)
      expect(metricValue(text, 'ingester_reconnects_total', { host })).toBeGreaterThanOrEqual(1)

      const refusals = lines.filter((l) => l.msg === 'labels refused').map((l) => l.reason)
      expect(new Set(refusals)).toEqual(new Set(['src-mismatch', 'bad-signature', 'future-cts']))
      expect(lines.some((l) => l.msg.startsWith('frame larger than the limit refused'))).toBe(true)
      // the oversized frame closed the connection; the ingester came back (from its cursor)
      expect(labeler.connections.length).toBeGreaterThanOrEqual(2)
    } finally {
      await ing.close()
    }
  })

  it('a frame with more labels than INGESTER_MAX_LABELS_PER_FRAME is refused whole; the next frames pass', async () => {
    const flood = await HostileLabeler.start('did:plc:floodlabelerxxxxxxxxxxxxx')
    try {
      flood.sendLabels(await Promise.all([1, 2, 3].map((i) => flood.sign({ uri: 'did:plc:someoneaaaaaaaaaaaaaaaaa', val: `flood-${i}` }))))
      flood.sendLabels([await flood.sign({ uri: 'did:plc:someoneaaaaaaaaaaaaaaaaa', val: 'after' })])
      const { logger, lines } = captureLogger()
      const config = testConfig({
        INGESTER_LABELER_HOSTS: `${flood.did}@${flood.url}`,
        PLC_URL: flood.plcUrl,
        INGESTER_MAX_LABELS_PER_FRAME: '2',
      })
      const ing = await startIngester(config, { logger, http: false })
      try {
        await waitFor(async () => (await redis.get(`${config.labelStream}:cursor:${flood.host}`)) === '2', 15_000, 'label cursor 2')
        const events = (await readStream(redis, config.labelStream)).flatMap(([, f]) => decodeLabelEntry(f))
        expect(events.map((e) => e.label.val)).toEqual(['after'])
        expect(
          metricValue(await ing.registry.metrics(), 'ingester_decode_errors_total', { host: flood.host, reason: 'too-many-labels' }),
        ).toBe(1)
        expect(lines.some((l) => l.reason === 'too-many-labels' && l.seq === 1)).toBe(true)
      } finally {
        await ing.close()
      }
    } finally {
      await flood.close()
    }
  })
})
