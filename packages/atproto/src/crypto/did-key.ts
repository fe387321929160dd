/**
 * did:key (multikey) parsing for the two atproto signing curves: `did:key:z` + base58btc of the
 * multicodec prefix (p256-pub 0x1200, secp256k1-pub 0xe7) and the 33-byte compressed point.
 */
import { fromBase58Btc, toBase58Btc } from '@atcute/multibase'
import { VerificationError } from '../errors.js'

export type KeyCurve = 'p256' | 'secp256k1'

export interface DidKeyBytes {
  curve: KeyCurve
  /** the compressed public point (33 bytes: 0x02/0x03, x) */
  compressed: Uint8Array
}

const P256_PREFIX = [0x80, 0x24] as const
const K256_PREFIX = [0xe7, 0x01] as const

const badKey = (message: string, cause?: unknown): VerificationError =>
  new VerificationError('bad-key', message, undefined, cause === undefined ? undefined : { cause })

/** Parses a did:key (or a bare multikey `z…`). Throws `VerificationError('bad-key')`. */
export const parseDidKeyBytes = (key: string): DidKeyBytes => {
  const multikey = key.startsWith('did:key:') ? key.slice(8) : key
  if (!multikey.startsWith('z')) throw badKey(`signing key ${JSON.stringify(key)} is not base58btc multibase`)
  let bytes: Uint8Array
  try {
    bytes = fromBase58Btc(multikey.slice(1))
  } catch (err) {
    throw badKey(`signing key ${JSON.stringify(key)} is not valid base58btc`, err)
  }
  let curve: KeyCurve
  if (bytes[0] === P256_PREFIX[0] && bytes[1] === P256_PREFIX[1]) curve = 'p256'
  else if (bytes[0] === K256_PREFIX[0] && bytes[1] === K256_PREFIX[1]) curve = 'secp256k1'
  else throw badKey(`signing key ${JSON.stringify(key)} is neither a p256 nor a secp256k1 multikey`)
  const compressed = bytes.subarray(2)
  if (compressed.length !== 33 || (compressed[0] !== 2 && compressed[0] !== 3)) {
    throw badKey(`signing key ${JSON.stringify(key)} is not a 33-byte compressed point`)
  }
  return { curve, compressed }
}

/** The did:key of a compressed public point. */
export const formatDidKey = (curve: KeyCurve, compressed: Uint8Array): string => {
  const prefix = curve === 'p256' ? P256_PREFIX : K256_PREFIX
  const bytes = new Uint8Array(2 + compressed.length)
  bytes.set(prefix, 0)
  bytes.set(compressed, 2)
  return `did:key:z${toBase58Btc(bytes)}`
}
