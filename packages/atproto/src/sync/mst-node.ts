/**
 * MST node blocks as flat arrays (full keys, record CIDs, subtree CIDs), for the commit-proof
 * inversion: decoding (with the repo walk's decoder, `../mst/node-decode.ts`) and canonical
 * encoding with its CID.
 */
import {
  decodeNodeGeneral,
  ENTRY_INTS,
  K,
  KLEN,
  MstNodeError,
  P,
  parseCanonicalNode,
  T,
  V,
  type CanonicalNode,
  type DecodedNode,
} from '../mst/node-decode.js'
import { sha256Into, sha256Words } from '../sha256.js'

export interface NodeData {
  /** full keys (`<collection>/<rkey>` bytes), strictly increasing */
  keys: Uint8Array[]
  /** record CID of each key (36-byte binary CIDv1) */
  vals: Uint8Array[]
  /** subtree CIDs: `gaps[0]` before the first key (`l`), `gaps[i + 1]` after key `i` (`t`) */
  gaps: Array<Uint8Array | null>
}

/** Thrown for a block that is not an MST node; `verifyCommitMessage` reports it as `proof-failed`. */
export { MstNodeError }

/** the canonical decoder's entry stack (decoding is synchronous: one is enough) */
let scratch = new Int32Array(ENTRY_INTS * 64)
const grow = (needed: number): Int32Array => {
  if (needed > scratch.length) scratch = new Int32Array(Math.max(scratch.length * 2, needed))
  return scratch
}

/** Decodes a node block. Throws `MstNodeError`. */
export const decodeNodeData = (bytes: Uint8Array): NodeData => {
  const node = parseCanonicalNode(bytes, 0, bytes.length, 0, grow)
  return node ? fromCanonical(bytes, node, scratch) : fromDecoded(decodeNodeGeneral(bytes))
}

const fromCanonical = (b: Uint8Array, node: CanonicalNode, ents: Int32Array): NodeData => {
  const keys: Uint8Array[] = []
  const vals: Uint8Array[] = []
  const gaps: Array<Uint8Array | null> = [node.l < 0 ? null : b.subarray(node.l, node.l + 36)]
  let prev: Uint8Array | null = null
  for (let o = 0; o < ENTRY_INTS * node.count; o += ENTRY_INTS) {
    const k = ents[o + K]!
    const t = ents[o + T]!
    const v = ents[o + V]!
    prev = joinKey(prev, ents[o + P]!, b.subarray(k, k + ents[o + KLEN]!))
    keys.push(prev)
    vals.push(b.subarray(v, v + 36))
    gaps.push(t < 0 ? null : b.subarray(t, t + 36))
  }
  return { keys, vals, gaps }
}

const fromDecoded = (node: DecodedNode): NodeData => {
  const out: NodeData = { keys: [], vals: [], gaps: [node.l] }
  let prev: Uint8Array | null = null
  for (const e of node.e) {
    prev = joinKey(prev, e.p, e.k)
    out.keys.push(prev)
    out.vals.push(e.v)
    out.gaps.push(e.t)
  }
  return out
}

const joinKey = (prev: Uint8Array | null, prefix: number, suffix: Uint8Array): Uint8Array => {
  if (prefix > (prev?.length ?? 0)) throw new MstNodeError('key prefix longer than the previous key')
  const key = new Uint8Array(prefix + suffix.length)
  if (prev !== null && prefix > 0) key.set(prev.subarray(0, prefix), 0)
  key.set(suffix, prefix)
  return key
}

const commonPrefix = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  let i = 0
  while (i < n && a[i] === b[i]) i++
  return i
}

/** Canonical DAG-CBOR of a node (`gaps` as CIDs). */
export const encodeNodeData = (keys: Uint8Array[], vals: Uint8Array[], gaps: Array<Uint8Array | null>): Uint8Array => {
  let size = 50
  for (const k of keys) size += k.length + 100
  const out = new Uint8Array(size)
  let p = 0
  const head = (major: number, n: number): void => {
    if (n < 24) out[p++] = (major << 5) | n
    else if (n < 256) {
      out[p++] = (major << 5) | 24
      out[p++] = n
    } else if (n < 0x10000) {
      out[p++] = (major << 5) | 25
      out[p++] = n >> 8
      out[p++] = n & 255
    } else {
      out[p++] = (major << 5) | 26
      out[p++] = n >>> 24
      out[p++] = (n >> 16) & 255
      out[p++] = (n >> 8) & 255
      out[p++] = n & 255
    }
  }
  const link = (cid: Uint8Array | null): void => {
    if (cid === null) {
      out[p++] = 0xf6
      return
    }
    out[p++] = 0xd8
    out[p++] = 0x2a
    out[p++] = 0x58
    out[p++] = 0x25
    out[p++] = 0
    out.set(cid, p)
    p += cid.length
  }
  const name = (c: number): void => {
    out[p++] = 0x61
    out[p++] = c
  }
  out[p++] = 0xa2
  name(0x65) // e
  head(4, keys.length)
  let prev: Uint8Array | null = null
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const prefix = prev === null ? 0 : commonPrefix(prev, key)
    out[p++] = 0xa4
    name(0x6b) // k
    head(2, key.length - prefix)
    out.set(key.subarray(prefix), p)
    p += key.length - prefix
    name(0x70) // p
    head(0, prefix)
    name(0x74) // t
    link(gaps[i + 1] ?? null)
    name(0x76) // v
    link(vals[i]!)
    prev = key
  }
  name(0x6c) // l
  link(gaps[0] ?? null)
  return out.subarray(0, p)
}

/** Binary CIDv1 (dag-cbor, sha256) of a block, hashed with the JS SHA-256 (small blocks). */
export const cidOfNode = (bytes: Uint8Array): Uint8Array => {
  sha256Into(bytes)
  const cid = new Uint8Array(36)
  cid[0] = 1
  cid[1] = 0x71
  cid[2] = 0x12
  cid[3] = 32
  const view = new DataView(cid.buffer)
  for (let i = 0; i < 8; i++) view.setInt32(4 + 4 * i, sha256Words[i]!)
  return cid
}
