import { createECDH, createPrivateKey, sign } from 'node:crypto'
import { fromBase58Btc } from '@atcute/multibase'
import { describe, expect, it } from 'vitest'
import { VerificationError } from '../errors.js'
import { readInteropJson } from '../test/helpers.js'
import { formatDidKey, parseDidKeyBytes, type KeyCurve } from './did-key.js'
import { createSigningKey, signingKeyFromDidKey, verifyDidKeySig, verifySignature } from './verify-sig.js'

interface SigFixture {
  comment: string
  messageBase64: string
  algorithm: string
  publicKeyDid: string
  signatureBase64: string
  validSignature: boolean
  tags: string[]
}

const sigFixtures = readInteropJson<SigFixture[]>('crypto/signature-fixtures.json')
const k256Keys = readInteropJson<Array<{ privateKeyBytesHex: string; publicDidKey: string }>>('crypto/w3c_didkey_K256.json')
const p256Keys = readInteropJson<Array<{ privateKeyBytesBase58: string; publicDidKey: string }>>('crypto/w3c_didkey_P256.json')

const keyVectors: Array<{ curve: KeyCurve; priv: Buffer; didKey: string }> = [
  ...k256Keys.map((k) => ({ curve: 'secp256k1' as const, priv: Buffer.from(k.privateKeyBytesHex, 'hex'), didKey: k.publicDidKey })),
  ...p256Keys.map((k) => ({ curve: 'p256' as const, priv: Buffer.from(fromBase58Btc(k.privateKeyBytesBase58)), didKey: k.publicDidKey })),
]
const ecdhCurve = (curve: KeyCurve) => (curve === 'p256' ? 'prime256v1' : 'secp256k1')
const ORDER: Record<KeyCurve, bigint> = {
  p256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
}
const b64u = (b: Buffer) => b.toString('base64url')

/** A node private key for the vector, and its uncompressed public point. */
const privateKeyOf = (curve: KeyCurve, priv: Buffer) => {
  const ecdh = createECDH(ecdhCurve(curve))
  ecdh.setPrivateKey(priv)
  const pub = ecdh.getPublicKey()
  const jwk = {
    kty: 'EC',
    crv: curve === 'p256' ? 'P-256' : 'secp256k1',
    d: b64u(priv),
    x: b64u(pub.subarray(1, 33)),
    y: b64u(pub.subarray(33)),
  }
  return { key: createPrivateKey({ key: jwk, format: 'jwk' }), ecdh, jwk }
}

describe('signatures (interop crypto fixtures)', () => {
  it('covers both curves, high-S and DER cases', () => {
    expect(new Set(sigFixtures.map((f) => f.algorithm))).toEqual(new Set(['ES256', 'ES256K']))
    expect(sigFixtures.some((f) => f.tags.includes('high-s'))).toBe(true)
    expect(sigFixtures.some((f) => f.tags.includes('der-encoded'))).toBe(true)
  })
  it.each(sigFixtures.map((f) => [f.comment, f] as const))('%s', (_c, f) => {
    const ok = verifyDidKeySig(f.publicKeyDid, Buffer.from(f.messageBase64, 'base64'), Buffer.from(f.signatureBase64, 'base64'))
    expect(ok).toBe(f.validSignature)
  })
})

describe('did:key parsing (interop w3c did:key vectors)', () => {
  it.each(keyVectors.map((v) => [v.didKey, v] as const))('%s', (_d, v) => {
    const { ecdh, jwk } = privateKeyOf(v.curve, v.priv)
    // the did:key of the vector's private key is the vector's
    expect(formatDidKey(v.curve, ecdh.getPublicKey(null, 'compressed'))).toBe(v.didKey)
    const parsed = parseDidKeyBytes(v.didKey)
    expect(parsed.curve).toBe(v.curve)
    // the parsed KeyObject is the same point, decompressed by OpenSSL
    const exported = createSigningKey(v.didKey).key.export({ format: 'jwk' })
    expect({ x: exported.x, y: exported.y }).toEqual({ x: jwk.x, y: jwk.y })
  })

  it('verifies low-S signatures made with the vector keys, refuses their high-S twins and other keys', () => {
    for (const v of keyVectors) {
      const { key } = privateKeyOf(v.curve, v.priv)
      const data = Buffer.from(`message for ${v.didKey}`)
      const signingKey = signingKeyFromDidKey(v.didKey)
      for (let i = 0; i < 8; i++) {
        const sig = sign('sha256', Buffer.concat([data, Buffer.from([i])]), { key, dsaEncoding: 'ieee-p1363' })
        const s = BigInt(`0x${sig.subarray(32).toString('hex')}`)
        const n = ORDER[v.curve]
        const low = s > n / 2n ? n - s : s
        const high = n - low
        const lowSig = Buffer.concat([sig.subarray(0, 32), Buffer.from(low.toString(16).padStart(64, '0'), 'hex')])
        const highSig = Buffer.concat([sig.subarray(0, 32), Buffer.from(high.toString(16).padStart(64, '0'), 'hex')])
        const msg = Buffer.concat([data, Buffer.from([i])])
        expect(verifySignature(signingKey, msg, lowSig)).toBe(true)
        expect(verifySignature(signingKey, msg, highSig)).toBe(false)
        expect(verifySignature(signingKey, Buffer.concat([msg, Buffer.from('x')]), lowSig)).toBe(false)
        const other = keyVectors.find((o) => o.curve === v.curve && o.didKey !== v.didKey)
        if (other) expect(verifySignature(signingKeyFromDidKey(other.didKey), msg, lowSig)).toBe(false)
      }
      expect(signingKeyFromDidKey(v.didKey)).toBe(signingKey)
    }
  })

  it('refuses malformed keys with bad-key', () => {
    const bad = [
      'did:key:abc',
      'did:key:z0OIl',
      // an Ed25519 multikey
      'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
      // a p256 prefix with a truncated point
      formatDidKey('p256', new Uint8Array(20).fill(2)),
      // x = 5 on secp256k1: x³+7 = 132 is not a square mod p
      formatDidKey('secp256k1', Uint8Array.from([2, ...new Uint8Array(31), 5])),
    ]
    for (const k of bad) {
      let err: unknown
      try {
        signingKeyFromDidKey(k)
      } catch (e) {
        err = e
      }
      expect(err, k).toBeInstanceOf(VerificationError)
      expect((err as VerificationError).reason, k).toBe('bad-key')
    }
  })
})
