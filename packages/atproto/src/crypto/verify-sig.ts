/**
 * ECDSA signature checks with node:crypto (OpenSSL) for atproto's two curves, as atproto requires
 * them: SHA-256, the 64-byte compact `r ‖ s` form only (no DER), and low-S (`s ≤ n/2`; a high-S
 * twin of a valid signature is refused).
 *
 * A did:key is parsed once into a `KeyObject` (SPKI holding the compressed point, which OpenSSL
 * decompresses) and kept in a bounded cache, so the per-commit cost is the verification alone.
 * Measured against @atproto/crypto's `verifySignature` (noble curves, parses the did:key on every
 * call) in `pnpm bench ingester-verify`.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { VerificationError } from '../errors.js'
import { parseDidKeyBytes, type KeyCurve } from './did-key.js'

export interface SigningKey {
  readonly curve: KeyCurve
  /** the did:key it was parsed from */
  readonly didKey: string
  readonly key: KeyObject
}

// DER prefixes of SubjectPublicKeyInfo { { id-ecPublicKey, curve }, BIT STRING 0x00 ‖ point(33) }
const SPKI_PREFIX: Record<KeyCurve, Buffer> = {
  p256: Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
  secp256k1: Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex'),
}

const ORDER: Record<KeyCurve, bigint> = {
  p256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
}
const toBytes32 = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(64, '0'), 'hex')
/** n/2 (rounded down) per curve, big-endian: a signature is low-S when `s ≤` this. */
const HALF_ORDER: Record<KeyCurve, Buffer> = {
  p256: toBytes32(ORDER.p256 >> 1n),
  secp256k1: toBytes32(ORDER.secp256k1 >> 1n),
}

/** Builds the KeyObject of a did:key (no cache). Throws `VerificationError('bad-key')`. */
export const createSigningKey = (didKey: string): SigningKey => {
  const { curve, compressed } = parseDidKeyBytes(didKey)
  let key: KeyObject
  try {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX[curve], compressed]), format: 'der', type: 'spki' })
  } catch (err) {
    // e.g. an x coordinate with no point on the curve
    throw new VerificationError('bad-key', `signing key ${didKey} is not a point on ${curve}: ${(err as Error).message}`, undefined, {
      cause: err,
    })
  }
  return { curve, didKey, key }
}

const CACHE_MAX = 100_000
const cache = new Map<string, SigningKey>()

/**
 * The cached `SigningKey` of a did:key (parsed on first use; the oldest of `CACHE_MAX` entries
 * is dropped first). Throws `VerificationError('bad-key')`; a bad key is not cached.
 */
export const signingKeyFromDidKey = (didKey: string): SigningKey => {
  const hit = cache.get(didKey)
  if (hit !== undefined) return hit
  const key = createSigningKey(didKey)
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string)
  cache.set(didKey, key)
  return key
}

/** True when `s` (bytes 32..63 of a compact signature) is at most n/2. */
const isLowS = (sig: Uint8Array, half: Buffer): boolean => {
  for (let i = 0; i < 32; i++) {
    const a = sig[32 + i]!
    const b = half[i]!
    if (a !== b) return a < b
  }
  return true
}

/**
 * Verifies an atproto signature: 64-byte compact low-S ECDSA over SHA-256(`data`). False for
 * anything else (DER form, high-S, wrong key, r or s out of range).
 */
export const verifySignature = (key: SigningKey, data: Uint8Array, sig: Uint8Array): boolean => {
  if (sig.length !== 64 || !isLowS(sig, HALF_ORDER[key.curve])) return false
  return verify('sha256', data, { key: key.key, dsaEncoding: 'ieee-p1363' }, sig)
}

/** `verifySignature` with a did:key string (parsed through the cache). Throws for a bad key. */
export const verifyDidKeySig = (didKey: string, data: Uint8Array, sig: Uint8Array): boolean =>
  verifySignature(signingKeyFromDidKey(didKey), data, sig)
