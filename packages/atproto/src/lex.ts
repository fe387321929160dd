/**
 * Decoded DAG-CBOR → atproto JSON ("lex JSON"): CIDs become `{ $link: "<cid>" }`, bytes become
 * `{ $bytes: "<base64, no padding>" }`. The types are those of `@firehose/streams`.
 */
import { BytesWrapper, decode as decodeCbor } from '@atcute/cbor'
import { CidLinkWrapper } from '@atcute/cid'
import { toBase64 } from '@atcute/multibase'
import { cidBytesToString } from './cid.js'

import type { LexRecord, LexValue } from '@firehose/streams'

export type { LexRecord, LexValue }

export class LexDecodeError extends Error {
  override name = 'LexDecodeError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** multiformats `CID` (as decoded by @ipld/dag-cbor) has `asCID === this`; no dependency on it. */
interface CidLike {
  asCID: unknown
  bytes: Uint8Array
}
const isCidLike = (v: object): v is CidLike =>
  (v as { asCID?: unknown }).asCID === v && (v as { bytes?: unknown }).bytes instanceof Uint8Array

/**
 * Converts a freshly decoded DAG-CBOR value to lex JSON, **reusing it in place**: plain objects and
 * arrays are mutated and returned, only CIDs and bytes are replaced. Do not pass values that are
 * shared elsewhere. Accepts @atcute/cbor's wrappers and, for tests, @ipld/dag-cbor's `CID` and
 * `Uint8Array`.
 */
export const toLexInPlace = (value: unknown): LexValue => {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      return value
    }
    if (value === null) return null
    throw new LexDecodeError(`unsupported value of type ${typeof value}`)
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = toLexInPlace(value[i])
    return value as LexValue[]
  }
  if (value instanceof CidLinkWrapper) return { $link: value.$link }
  if (value instanceof BytesWrapper) return { $bytes: toBase64(value.buf) }
  if (value instanceof Uint8Array) return { $bytes: toBase64(value) }
  if (isCidLike(value)) return { $link: cidBytesToString(value.bytes) }
  const obj = value as Record<string, unknown>
  for (const key in obj) obj[key] = toLexInPlace(obj[key])
  return obj as LexRecord
}

/** Converts without touching the input (allocates a copy of every object and array). */
export const toLex = (value: unknown): LexValue => toLexInPlace(structuredCloneDecoded(value))

const structuredCloneDecoded = (value: unknown): unknown => {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(structuredCloneDecoded)
  if (value instanceof CidLinkWrapper || value instanceof BytesWrapper || value instanceof Uint8Array || isCidLike(value)) {
    return value
  }
  const out: Record<string, unknown> = {}
  for (const key in value) out[key] = structuredCloneDecoded((value as Record<string, unknown>)[key])
  return out
}

export const isLexRecord = (value: LexValue): value is LexRecord => value !== null && typeof value === 'object' && !Array.isArray(value)

/**
 * Decodes one DAG-CBOR block into a lex JSON record (a map at the top level).
 * Throws `LexDecodeError` for invalid DAG-CBOR or a non-map value.
 */
export const decodeLexRecord = (bytes: Uint8Array): LexRecord => {
  let value: LexValue
  try {
    value = toLexInPlace(decodeCbor(bytes))
  } catch (err) {
    if (err instanceof LexDecodeError) throw err
    throw new LexDecodeError(`invalid DAG-CBOR: ${(err as Error).message}`, { cause: err })
  }
  if (!isLexRecord(value)) throw new LexDecodeError('record is not a map')
  return value
}
