/**
 * Repo commit objects: decoding (v3, and legacy v2), signature verification against a did:key,
 * and signing (used by the testing helpers).
 */
import { BytesWrapper, decode as decodeCbor, encode as encodeCbor } from '@atcute/cbor'
import { CidLinkWrapper } from '@atcute/cid'
import { parseDidKey, verifySig, type FoundPublicKey, type PrivateKey } from '@atcute/crypto'
import { cidBytesToString } from './cid.js'
import { VerificationError } from './errors.js'

export interface Commit {
  did: string
  version: 2 | 3
  /** binary CID of the MST root */
  data: Uint8Array
  rev: string
  prev: Uint8Array | null
  sig: Uint8Array
  /** the decoded commit map, kept to re-encode the unsigned commit exactly */
  raw: Record<string, unknown>
}

/** Decodes and shape-checks a commit block. Throws `VerificationError('bad-commit')`. */
export const decodeCommit = (cid: Uint8Array, bytes: Uint8Array): Commit => {
  const bad = (message: string, cause?: unknown) => new VerificationError('bad-commit', message, cidBytesToString(cid), { cause })
  let raw: unknown
  try {
    raw = decodeCbor(bytes)
  } catch (err) {
    throw bad(`commit is not valid DAG-CBOR: ${(err as Error).message}`, err)
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad('commit is not a map')
  const c = raw as Record<string, unknown>
  const { did, version, data, rev, prev, sig } = c
  if (version !== 3 && version !== 2) throw bad(`unsupported commit version ${String(version)}`)
  if (typeof did !== 'string' || !did.startsWith('did:')) throw bad('commit `did` missing or invalid')
  if (!(data instanceof CidLinkWrapper)) throw bad('commit `data` is not a CID link')
  if (!(sig instanceof BytesWrapper)) throw bad('commit `sig` is not bytes')
  if (prev !== undefined && prev !== null && !(prev instanceof CidLinkWrapper)) throw bad('commit `prev` is not a CID link')
  if (version === 3 && typeof rev !== 'string') throw bad('v3 commit without `rev`')
  if (rev !== undefined && typeof rev !== 'string') throw bad('commit `rev` is not a string')
  return {
    did,
    version,
    data: data.bytes,
    rev: typeof rev === 'string' ? rev : '',
    prev: prev instanceof CidLinkWrapper ? prev.bytes : null,
    sig: sig.buf,
    raw: c,
  }
}

/** DAG-CBOR bytes of the commit without `sig`: what the signature covers. */
export const unsignedCommitBytes = (commit: Commit): Uint8Array => {
  const { sig: _sig, ...unsigned } = commit.raw
  return encodeCbor(unsigned)
}

/** Parses a did:key (or a bare multikey). Throws `VerificationError('bad-key')`. */
export const parseSigningKey = (key: string): FoundPublicKey => {
  try {
    return parseDidKey(key.startsWith('did:key:') ? key : `did:key:${key}`)
  } catch (err) {
    throw new VerificationError('bad-key', `unsupported or malformed signing key: ${(err as Error).message}`, undefined, { cause: err })
  }
}

/**
 * Verifies the commit signature (low-S ECDSA over the unsigned commit, secp256k1 or p256).
 * Throws `VerificationError('bad-signature')` when it does not verify.
 */
export const verifyCommitSignature = async (commit: Commit, key: string | FoundPublicKey): Promise<void> => {
  const found = typeof key === 'string' ? parseSigningKey(key) : key
  let ok = false
  try {
    ok = await verifySig(found, toArrayBufferView(commit.sig), toArrayBufferView(unsignedCommitBytes(commit)))
  } catch (err) {
    throw new VerificationError('bad-signature', `signature check failed: ${(err as Error).message}`, undefined, { cause: err })
  }
  if (!ok)
    throw new VerificationError('bad-signature', `commit signature does not verify against ${typeof key === 'string' ? key : 'the key'}`)
}

/** Verifies a raw atproto signature (low-S, 64-byte compact) over `data` with a did:key. */
export const verifyDidKeySignature = async (key: string, data: Uint8Array, sig: Uint8Array): Promise<boolean> => {
  const found = parseSigningKey(key)
  try {
    return await verifySig(found, toArrayBufferView(sig), toArrayBufferView(data))
  } catch {
    return false
  }
}

/** `verifySig` wants `Uint8Array<ArrayBuffer>`; views over a SharedArrayBuffer are copied. */
const toArrayBufferView = (bytes: Uint8Array): Uint8Array<ArrayBuffer> =>
  bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes)

export interface UnsignedCommitInput {
  did: string
  data: Uint8Array
  rev: string
  prev?: Uint8Array | null
}

/** Encodes and signs a v3 commit. Returns the commit block bytes. */
export const signCommit = async (input: UnsignedCommitInput, key: PrivateKey): Promise<Uint8Array> => {
  const unsigned = {
    did: input.did,
    version: 3,
    data: new CidLinkWrapper(input.data),
    rev: input.rev,
    prev: input.prev ? new CidLinkWrapper(input.prev) : null,
  }
  const sig = await key.sign(encodeCbor(unsigned))
  return encodeCbor({ ...unsigned, sig: new BytesWrapper(sig) })
}
