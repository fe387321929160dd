import { normalizeDatetimeAlways } from '@atproto/syntax'
import type { LexRecord, LexValue } from '@firehose/streams'

/** bsky's createdAt normalisation: a valid datetime as ISO, anything else a fixed far past. */
export const normalizeDatetime = (v: LexValue | undefined): string => normalizeDatetimeAlways(typeof v === 'string' ? v : '')

export const isObj = (v: unknown): v is { [key: string]: LexValue } => typeof v === 'object' && v !== null && !Array.isArray(v)

export const str = (v: LexValue | undefined): string | null => (typeof v === 'string' ? v : null)

/** `{uri, cid}` of a strong ref field. */
export function strongRef(v: LexValue | undefined): { uri: string; cid: string } | null {
  if (!isObj(v) || typeof v.uri !== 'string' || typeof v.cid !== 'string') return null
  return { uri: v.uri, cid: v.cid }
}

/** CID of a blob in JSON form (`{ref:{$link}}`, or the legacy `{cid}`), as bsky's getBlobCidString. */
export function blobCid(v: LexValue | undefined): string | null {
  if (!isObj(v)) return null
  const ref = v.ref
  if (isObj(ref) && typeof ref.$link === 'string') return ref.$link
  if (typeof v.cid === 'string') return v.cid
  return null
}

export const field = (record: LexRecord, key: string): LexValue | undefined => record[key]

/** `did` of an at:// uri. */
export function uriDid(uri: string): string {
  const rest = uri.startsWith('at://') ? uri.slice(5) : uri
  const i = rest.indexOf('/')
  return i === -1 ? rest : rest.slice(0, i)
}

export const lesser = (a: string, b: string): string => (a < b ? a : b)
