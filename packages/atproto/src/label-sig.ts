/**
 * Label signatures (atproto.com/specs/label): ECDSA (secp256k1 or P-256, low-S, 64-byte compact)
 * over the DAG-CBOR of the label without `sig`, by the labeler's `#atproto_label` key. The public
 * key is imported once (`importDidKey`) and reused for every label of that labeler.
 */
import { P256PublicKey, Secp256k1PublicKey, type PublicKey } from '@atcute/crypto'
import { parseSigningKey } from './commit.js'

export type { PublicKey }

/** A did:key (or bare multikey) → a public key object ready to verify. Throws `VerificationError('bad-key')`. */
export const importDidKey = async (didKey: string): Promise<PublicKey> => {
  const found = parseSigningKey(didKey)
  return found.type === 'p256' ? P256PublicKey.importRaw(found.publicKeyBytes) : Secp256k1PublicKey.importRaw(found.publicKeyBytes)
}

/** True when `sig` is a valid low-S signature of `unsigned` by `key`; false for anything else. */
export const verifyLabelSignature = async (key: PublicKey, unsigned: Uint8Array, sig: Uint8Array): Promise<boolean> => {
  try {
    return await key.verify(toArrayBufferView(sig), toArrayBufferView(unsigned))
  } catch {
    return false
  }
}

const toArrayBufferView = (bytes: Uint8Array): Uint8Array<ArrayBuffer> =>
  bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes)
