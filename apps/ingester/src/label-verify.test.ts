/** LabelVerifier with real keys and signatures; the key source is a counting function (the DID document lookup). */
import { describe, expect, it } from 'vitest'
import { encode as encodeCbor } from '@atcute/cbor'
import type { SignedLabelItem } from '@firehose/atproto'
import type { Label } from '@firehose/streams'
import { Secp256k1Keypair } from '@firehose/testkit'
import { KeyUnavailableError, LabelVerifier, REFRESH_MIN_INTERVAL_MS } from './label-verify.js'

const did = 'did:plc:labelerverifyxxxxxxxxxxxx'

async function item(key: Secp256k1Keypair, over: Partial<Label> = {}): Promise<SignedLabelItem> {
  const label = { ver: 1, src: did, uri: 'did:plc:someoneaaaaaaaaaaaaaaaaa', val: 'spam', cts: new Date(0).toISOString(), ...over }
  const unsigned = encodeCbor(label)
  const sig = await key.sign(unsigned)
  return { label: { ...label, sig: { $bytes: Buffer.from(sig).toString('base64') } } as Label, unsigned, sig }
}

describe('LabelVerifier', () => {
  it('accepts the DID key, resolving it once; refuses src, cts and signature forgeries by reason', async () => {
    const key = await Secp256k1Keypair.create()
    const other = await Secp256k1Keypair.create()
    let lookups = 0
    let now = 1_000_000_000
    const v = new LabelVerifier({
      did,
      resolveKey: async () => {
        lookups++
        return key.did()
      },
      maxFutureSkewMs: 300_000,
      now: () => now,
    })
    expect(await v.check(await item(key))).toBeUndefined()
    expect(await v.check(await item(key, { val: 'other' }))).toBeUndefined()
    expect(lookups).toBe(1)
    expect(await v.check(await item(key, { src: 'did:plc:someoneelsexxxxxxxxxxxx' }))).toBe('src-mismatch')
    expect(await v.check(await item(key, { cts: 'yesterday' }))).toBe('bad-cts')
    expect(await v.check(await item(key, { cts: new Date(now + 301_000).toISOString() }))).toBe('future-cts')
    expect(await v.check(await item(key, { cts: new Date(now + 299_000).toISOString() }))).toBeUndefined()
    expect(await v.check({ ...(await item(key)), sig: undefined })).toBe('no-signature')
    // a bad signature re-resolves once; more within the minute do not
    expect(await v.check(await item(other))).toBe('bad-signature')
    expect(lookups).toBe(2)
    for (let i = 0; i < 5; i++) expect(await v.check(await item(other))).toBe('bad-signature')
    expect(lookups).toBe(2)
    now += REFRESH_MIN_INTERVAL_MS
    expect(await v.check(await item(other))).toBe('bad-signature')
    expect(lookups).toBe(3)
    // a high-S signature of the right key is refused (malleability)
    const good = await item(key)
    const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const s = BigInt(
      `0x${Buffer.from(good.sig as Uint8Array)
        .subarray(32)
        .toString('hex')}`,
    )
    const high = Buffer.concat([
      Buffer.from(good.sig as Uint8Array).subarray(0, 32),
      Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'),
    ])
    now += REFRESH_MIN_INTERVAL_MS
    expect(await v.check({ ...good, sig: high })).toBe('bad-signature')
  })

  it('follows a key rotation on the first label signed with the new key', async () => {
    const oldKey = await Secp256k1Keypair.create()
    const newKey = await Secp256k1Keypair.create()
    let current = oldKey
    const v = new LabelVerifier({ did, resolveKey: async () => current.did(), maxFutureSkewMs: 0 })
    expect(await v.check(await item(oldKey))).toBeUndefined()
    current = newKey
    expect(await v.check(await item(newKey))).toBeUndefined()
  })

  it('a key that cannot be had throws KeyUnavailableError (the labels wait, they are not refused)', async () => {
    const v = new LabelVerifier({
      did,
      resolveKey: async () => {
        throw new Error('did not found')
      },
      maxFutureSkewMs: 0,
    })
    await expect(v.check(await item(await Secp256k1Keypair.create()))).rejects.toBeInstanceOf(KeyUnavailableError)
  })
})
