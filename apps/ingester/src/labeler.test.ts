/**
 * A local `com.atproto.label.subscribeLabels` server sending labels signed with a real secp256k1
 * key, its DID document served as PLC would: every label lands in `label_live`, intact (its
 * signature still verifies), cursor per host.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { encode as encodeCbor } from '@atcute/cbor'
import { importDidKey, verifyLabelSignature } from '@firehose/atproto'
import { decodeLabelEntry, type Label } from '@firehose/streams'
import { HostileLabeler, LocalLabeler } from '@firehose/testkit'
import { startIngester } from './ingester.js'
import { newRedis, quietLogger, readStream, testConfig, waitFor } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

describe('labelers', () => {
  it('writes one label_live entry per label, from cursor 0, then resumes from the stored cursor', async () => {
    // an honest labeler: every label signed by its DID's #atproto_label key
    const labeler = await HostileLabeler.start('did:plc:labelerxxxxxxxxxxxxxxxxx')
    const batches = [
      [await labeler.sign({ uri: 'did:plc:someoneaaaaaaaaaaaaaaaaa', val: 'spam' })],
      [
        await labeler.sign({ uri: 'at://did:plc:someoneaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3k', val: 'porn' }),
        await labeler.sign({ uri: 'did:plc:someoneaaaaaaaaaaaaaaaaa', val: 'spam', neg: true }),
      ],
      [await labeler.sign({ uri: 'did:plc:otheronebbbbbbbbbbbbbbbbb', val: '!hide' })],
    ]
    for (const b of batches) labeler.sendLabels(b)
    const config = testConfig({ INGESTER_LABELER_HOSTS: `${labeler.did}@${labeler.url}`, PLC_URL: labeler.plcUrl })
    let ing = await startIngester(config, { logger: quietLogger(), http: false })
    try {
      await waitFor(async () => (await redis.get(`${config.labelStream}:cursor:${labeler.host}`)) === '3', 10_000, 'label cursor 3')
      expect(labeler.connections[0]?.cursor).toBe(0)
      const entries = await readStream(redis, config.labelStream)
      const events = entries.flatMap(([, f]) => decodeLabelEntry(f))
      expect(events.map((e) => e.seq)).toEqual([1, 2, 2, 3])
      expect(events.map((e) => e.label.val)).toEqual(batches.flat().map((l) => l.val))
      const key = await importDidKey(labeler.keypair.did())
      for (const { label } of events) {
        const { sig, ...unsigned } = label as Label & { sig: { $bytes: string } }
        expect(await verifyLabelSignature(key, encodeCbor(unsigned), Buffer.from(sig.$bytes, 'base64'))).toBe(true)
      }
      await ing.close()
      // a restart resumes after the last label written
      ing = await startIngester(config, { logger: quietLogger(), http: false })
      await waitFor(() => labeler.connections.length === 2, 5000, 'reconnect')
      expect(labeler.connections[1]?.cursor).toBe(3)
      expect(await redis.xlen(config.labelStream)).toBe(4)
    } finally {
      await ing.close()
      await labeler.close()
    }
  })

  it('resolves a did:web labeler from its own host (testkit LocalLabeler, as the e2e suite runs it)', async () => {
    const labeler = await LocalLabeler.start()
    await labeler.emit('did:plc:someoneaaaaaaaaaaaaaaaaa', 'spam')
    // PLC_URL points nowhere: a did:web needs none
    const config = testConfig({ INGESTER_LABELER_HOSTS: labeler.hostEntry, PLC_URL: 'http://127.0.0.1:1' })
    const ing = await startIngester(config, { logger: quietLogger(), http: false })
    try {
      await labeler.emit('did:plc:someoneaaaaaaaaaaaaaaaaa', 'gore')
      await waitFor(async () => (await redis.xlen(config.labelStream)) === 2, 10_000, 'two labels')
      const events = (await readStream(redis, config.labelStream)).flatMap(([, f]) => decodeLabelEntry(f))
      expect(events.map((e) => [e.label.src, e.label.val])).toEqual([
        [labeler.did, 'spam'],
        [labeler.did, 'gore'],
      ])
    } finally {
      await ing.close()
      await labeler.close()
    }
  })
})
