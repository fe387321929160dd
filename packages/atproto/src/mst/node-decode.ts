/**
 * Decoding an MST node block, the one decoder behind the repo walk (`walk.ts`) and the
 * commit-proof inversion (`sync/mst-node.ts`): a fast path for the canonical layout that only
 * records offsets, and the general DAG-CBOR decoder with its shape checks for anything else.
 */
import { BytesWrapper, decode as decodeCbor } from '@atcute/cbor'
import { CidLinkWrapper } from '@atcute/cid'

/** Thrown for a block that is not an MST node. */
export class MstNodeError extends Error {
  override name = 'MstNodeError'
}

// per entry of a canonical node, ENTRY_INTS ints: key suffix start, key suffix length, prefix
// length, subtree CID offset (-1: none), record CID offset
export const ENTRY_INTS = 5
export const K = 0
export const KLEN = 1
export const P = 2
export const T = 3
export const V = 4

/** A canonical node: `count` entries at `ents[base…]`; `l`: offset of the left subtree's 36-byte CID, or -1. */
export interface CanonicalNode {
  l: number
  count: number
}

/**
 * The node's entries when the bytes `b[s, e)` are exactly the canonical DAG-CBOR of
 * `{e: [{k, p, t, v}, …], l}` (keys in canonical order, shortest argument encodings, CIDs as
 * 0x00 + sha256 CIDv1 dag-cbor/raw, nothing else in the maps); null otherwise. Such bytes
 * decode to exactly what decodeNodeGeneral accepts, with the same values. The entries are
 * written from `base` into the array `grow(needed)` returns (at least `needed` ints long).
 */
export function parseCanonicalNode(
  b: Uint8Array,
  s: number,
  e: number,
  base: number,
  grow: (needed: number) => Int32Array,
): CanonicalNode | null {
  let p = s
  if (e - p < 4 || b[p] !== 0xa2 || b[p + 1] !== 0x61 || b[p + 2] !== 0x65) return null // {"e":
  p += 3
  const h = b[p++]!
  if (h >> 5 !== 4) return null
  let n = h & 31
  if (n >= 24) {
    if (n === 24) {
      if (p >= e || b[p]! < 24) return null
      n = b[p++]!
    } else if (n === 25) {
      if (p + 2 > e) return null
      n = (b[p]! << 8) | b[p + 1]!
      p += 2
      if (n < 0x100) return null
    } else return null
  }
  if (n * 8 > e - p) return null
  const ents = grow(base + ENTRY_INTS * n)
  let o = base
  for (let i = 0; i < n; i++, o += ENTRY_INTS) {
    // {"k": bytes, "p": uint, "t": null | cid, "v": cid}
    if (p + 4 > e || b[p] !== 0xa4 || b[p + 1] !== 0x61 || b[p + 2] !== 0x6b) return null
    p += 3
    const kh = b[p++]!
    if (kh >> 5 !== 2) return null
    let klen = kh & 31
    if (klen >= 24) {
      if (klen !== 24 || p >= e || b[p]! < 24) return null
      klen = b[p++]!
    }
    if (p + klen + 3 > e) return null
    ents[o + K] = p
    ents[o + KLEN] = klen
    p += klen
    if (b[p] !== 0x61 || b[p + 1] !== 0x70) return null
    p += 2
    const ph = b[p++]!
    if (ph >> 5 !== 0) return null
    let prefix = ph & 31
    if (prefix >= 24) {
      if (prefix !== 24 || p >= e || b[p]! < 24) return null
      prefix = b[p++]!
    }
    ents[o + P] = prefix
    if (p + 3 > e || b[p] !== 0x61 || b[p + 1] !== 0x74) return null
    p += 2
    if (b[p] === 0xf6) {
      ents[o + T] = -1
      p++
    } else {
      if (!isCidAt(b, p, e)) return null
      ents[o + T] = p + 5
      p += 41
    }
    if (p + 2 > e || b[p] !== 0x61 || b[p + 1] !== 0x76) return null
    p += 2
    if (!isCidAt(b, p, e)) return null
    ents[o + V] = p + 5
    p += 41
  }
  if (p + 3 > e || b[p] !== 0x61 || b[p + 1] !== 0x6c) return null // "l":
  p += 2
  let l = -1
  if (b[p] === 0xf6) p++
  else {
    if (!isCidAt(b, p, e)) return null
    l = p + 5
    p += 41
  }
  if (p !== e) return null
  return { l, count: n }
}

/** 0xd8 0x2a (tag 42), 0x58 0x25 (37 bytes), 0x00, then a sha256 CIDv1 with the dag-cbor or raw codec. */
const isCidAt = (b: Uint8Array, p: number, e: number): boolean =>
  p + 41 <= e &&
  b[p] === 0xd8 &&
  b[p + 1] === 0x2a &&
  b[p + 2] === 0x58 &&
  b[p + 3] === 0x25 &&
  b[p + 4] === 0 &&
  b[p + 5] === 1 &&
  (b[p + 6] === 0x71 || b[p + 6] === 0x55) &&
  b[p + 7] === 0x12 &&
  b[p + 8] === 0x20

/** An entry of a node as decoded: prefix length, key suffix, record CID, subtree CID (binary CIDs). */
export interface DecodedEntry {
  p: number
  k: Uint8Array
  v: Uint8Array
  t: Uint8Array | null
}

/** A node as decoded by the general decoder: left subtree CID and entries. */
export interface DecodedNode {
  l: Uint8Array | null
  e: DecodedEntry[]
}

const isCidOrNull = (v: unknown): v is CidLinkWrapper | null => v === null || v instanceof CidLinkWrapper

/** Any DAG-CBOR encoding of a node, its shape checked. Throws `MstNodeError`. */
export function decodeNodeGeneral(bytes: Uint8Array): DecodedNode {
  let node: unknown
  try {
    node = decodeCbor(bytes)
  } catch (err) {
    throw new MstNodeError(`node is not valid DAG-CBOR: ${(err as Error).message}`, { cause: err })
  }
  if (node === null || typeof node !== 'object') throw new MstNodeError('node is not a map')
  const { l, e } = node as { l?: unknown; e?: unknown }
  if (!isCidOrNull(l) || !Array.isArray(e)) throw new MstNodeError('node must have `l` (link or null) and `e` (array)')
  const out: DecodedNode = { l: l === null ? null : l.bytes, e: [] }
  for (const entry of e as unknown[]) {
    const { p, k, v, t } = (entry ?? {}) as Record<string, unknown>
    if (
      typeof entry !== 'object' ||
      typeof p !== 'number' ||
      !Number.isInteger(p) ||
      p < 0 ||
      !(k instanceof BytesWrapper) ||
      !(v instanceof CidLinkWrapper) ||
      !isCidOrNull(t)
    ) {
      throw new MstNodeError('malformed node entry')
    }
    out.e.push({ p, k: k.buf, v: v.bytes, t: t === null ? null : t.bytes })
  }
  return out
}
