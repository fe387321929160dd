/**
 * A local `com.atproto.label.subscribeLabels` server sending labels signed with a real secp256k1
 * key: every label lands in `label_live`, intact (its signature still verifies), cursor per host.
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { encode as encodeCbor } from '@atcute/cbor'
import { encodeMessageFrame } from '@firehose/atproto'
import { decodeLabelEntry, type Label } from '@firehose/streams'
import { startIngester } from './ingester.js'
import { startFrameServer } from './test/frame-server.js'
import { newRedis, quietLogger, readStream, testConfig, waitFor } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** atproto label signature: low-S ECDSA over the DAG-CBOR of the label without `sig`. */
function signLabel(label: Omit<Label, 'sig'>): Label {
  const sig = sign('sha256', encodeCbor(label), { key: privateKey, dsaEncoding: 'ieee-p1363' })
  let s = BigInt(`0x${sig.subarray(32).toString('hex')}`)
  if (s > N / 2n) s = N - s
  const low = Buffer.concat([sig.subarray(0, 32), Buffer.from(s.toString(16).padStart(64, '0'), 'hex')])
  return { ...label, sig: { $bytes: low.toString('base64').replace(/=+$/, '') } }
}

const verifyLabel = (label: Label): boolean => {
  const { sig, ...unsigned } = label
  return verify('sha256', encodeCbor(unsigned), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig?.$bytes ?? '', 'base64'))
}

const src = 'did:plc:labelerxxxxxxxxxxxxxxxxx'
const cts = new Date().toISOString()
const batches: { seq: number; labels: Label[] }[] = [
  { seq: 1, labels: [signLabel({ ver: 1, src, uri: 'did:plc:someoneaaaaaaaaaaaaaaaaa', val: 'spam', cts })] },
  {
    seq: 2,
    labels: [
      signLabel({ ver: 1, src, uri: 'at://did:plc:someoneaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3k', cid: 'bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a', val: 'porn', cts }),
      signLabel({ ver: 1, src, uri: 'did:plc:someoneaaaaaaaaaaaaaaaaa', val: 'spam', neg: true, cts, exp: '2030-01-01T00:00:00.000Z' }),
    ],
  },
  { seq: 3, labels: [signLabel({ ver: 1, src, uri: 'did:plc:otheronebbbbbbbbbbbbbbbbb', val: '!hide', cts })] },
]

describe('labelers', () => {
  it('writes one label_live entry per label, from cursor 0, then resumes from the stored cursor', async () => {
    const server = await startFrameServer((conn) => {
      for (const b of batches) if (b.seq > (conn.cursor ?? 0)) conn.ws.send(encodeMessageFrame('#labels', b as unknown as Record<string, unknown>))
    })
    const config = testConfig({ INGESTER_LABELER_HOSTS: server.url })
    const host = server.url.replace('ws://', '')
    let ing = await startIngester(config, { logger: quietLogger(), http: false })
    try {
      await waitFor(async () => (await redis.get(`${config.labelStream}:cursor:${host}`)) === '3', 10_000, 'label cursor 3')
      expect(server.connections[0]?.path).toBe('/xrpc/com.atproto.label.subscribeLabels')
      expect(server.connections[0]?.cursor).toBe(0)
      const entries = await readStream(redis, config.labelStream)
      const events = entries.flatMap(([, f]) => decodeLabelEntry(f))
      expect(events.map((e) => e.seq)).toEqual([1, 2, 2, 3])
      expect(events.map((e) => e.label)).toEqual(batches.flatMap((b) => b.labels))
      expect(events.every((e) => verifyLabel(e.label))).toBe(true)
      await ing.close()
      // a restart resumes after the last label written
      ing = await startIngester(config, { logger: quietLogger(), http: false })
      await waitFor(() => server.connections.length === 2, 5000, 'reconnect')
      expect(server.connections[1]?.cursor).toBe(3)
      expect(await redis.xlen(config.labelStream)).toBe(4)
    } finally {
      await ing.close()
      await server.close()
    }
  })
})
