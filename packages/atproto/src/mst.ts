/**
 * Merkle Search Tree: key heights, and a verifying walk over a repo's tree.
 *
 * The walk checks that the tree is the canonical one for its keys: every node block is present,
 * decodes as a node, keys are valid repo paths in strictly increasing order across the in-order
 * traversal (which also places every subtree inside its key range), prefix compression is exact,
 * every entry of a node sits on the node's layer (the sha256 leading-zero rule), and subtrees sit
 * exactly one layer below. It returns the leaves (path, record CID) in key order.
 */
import { decode as decodeCbor, BytesWrapper } from '@atcute/cbor'
import { CidLinkWrapper } from '@atcute/cid'
import type { BlockMap } from './car.js'
import { cidBytesToString, sha256 } from './cid.js'
import { VerificationError } from './errors.js'

/** Layer of a key: leading zero bits of sha256(key), counted in pairs (fanout 4). */
export const keyHeight = (key: string | Uint8Array): number => {
  const digest = sha256(typeof key === 'string' ? Buffer.from(key, 'utf8') : key)
  let zeros = 0
  for (let i = 0; i < digest.length; i++) {
    const byte = digest[i]!
    if (byte === 0) {
      zeros += 8
      continue
    }
    zeros += Math.clz32(byte) - 24
    break
  }
  return zeros >> 1
}

/** Number of leading bytes shared by two keys (compared as UTF-8 bytes). */
export const commonPrefixLength = (a: string | Uint8Array, b: string | Uint8Array): number => {
  const x = typeof a === 'string' ? Buffer.from(a, 'utf8') : a
  const y = typeof b === 'string' ? Buffer.from(b, 'utf8') : b
  const n = Math.min(x.length, y.length)
  let i = 0
  while (i < n && x[i] === y[i]) i++
  return i
}

/**
 * Leaves of a tree in key order: `paths[i]` → record CID `cids[i]` (binary, a view into the CAR)
 * whose block is `blocks[i]`.
 */
export interface MstLeaves {
  paths: string[]
  cids: Uint8Array[]
  blocks: Uint8Array[]
}

interface NodeEntry {
  p: number
  k: BytesWrapper
  v: CidLinkWrapper
  t: CidLinkWrapper | null
}

const badMst = (message: string, cid?: Uint8Array): VerificationError =>
  new VerificationError('bad-mst', message, cid ? cidBytesToString(cid) : undefined)

const isCidOrNull = (v: unknown): v is CidLinkWrapper | null => v === null || v instanceof CidLinkWrapper

const decodeNode = (cid: Uint8Array, bytes: Uint8Array): { l: CidLinkWrapper | null; e: NodeEntry[] } => {
  let node: unknown
  try {
    node = decodeCbor(bytes)
  } catch (err) {
    throw new VerificationError('bad-mst', `node is not valid DAG-CBOR: ${(err as Error).message}`, cidBytesToString(cid), { cause: err })
  }
  if (node === null || typeof node !== 'object') throw badMst('node is not a map', cid)
  const { l, e } = node as { l?: unknown; e?: unknown }
  if (!isCidOrNull(l) || !Array.isArray(e)) throw badMst('node must have `l` (link or null) and `e` (array)', cid)
  for (const entry of e as unknown[]) {
    const { p, k, v, t } = (entry ?? {}) as Record<string, unknown>
    if (
      typeof entry !== 'object' ||
      typeof p !== 'number' || !Number.isInteger(p) || p < 0 ||
      !(k instanceof BytesWrapper) ||
      !(v instanceof CidLinkWrapper) ||
      !isCidOrNull(t)
    ) {
      throw badMst('malformed node entry', cid)
    }
  }
  return { l, e: e as NodeEntry[] }
}

const SLASH = 0x2f
/** Repo path bytes: `<collection>/<rkey>`, one slash, both sides non-empty, [A-Za-z0-9._:~-]. */
const isValidPathBytes = (key: Uint8Array): boolean => {
  let slash = -1
  for (let i = 0; i < key.length; i++) {
    const c = key[i]!
    if (c === SLASH) {
      if (slash !== -1) return false
      slash = i
      continue
    }
    const ok =
      (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
      c === 0x2e || c === 0x2d || c === 0x5f || c === 0x3a || c === 0x7e
    if (!ok) return false
  }
  return slash > 0 && slash < key.length - 1
}

/**
 * Walks and verifies the tree under `root`. Also requires every leaf's record block to be present
 * (`missing-block`) and its CID to be dag-cbor (`bad-record`). Throws `VerificationError`.
 */
export const walkMst = (blocks: BlockMap, root: Uint8Array): MstLeaves => {
  const out: MstLeaves = { paths: [], cids: [], blocks: [] }
  const rootBytes = blocks.get(root)
  if (rootBytes === undefined) throw new VerificationError('missing-block', 'MST root node not in CAR', cidBytesToString(root))
  const node = decodeNode(root, rootBytes)
  if (node.e.length === 0) {
    if (node.l !== null) throw badMst('root node has no entries (tree not trimmed)', root)
    return out
  }
  const state = { last: '' }
  walkNode(blocks, root, node, undefined, state, out)
  return out
}

const walkNode = (
  blocks: BlockMap,
  cid: Uint8Array,
  node: { l: CidLinkWrapper | null; e: NodeEntry[] },
  expectedLayer: number | undefined,
  state: { last: string },
  out: MstLeaves,
): void => {
  const entries = node.e
  let layer = expectedLayer
  if (entries.length === 0 && node.l === null) throw badMst('empty non-root node', cid)
  if (node.l !== null) {
    // layer is known from the parent except at the root, where the first key gives it
    if (layer === undefined) layer = keyHeight(reconstructFirstKey(entries, cid))
    if (layer === 0) throw badMst('layer-0 node has a subtree', cid)
    walkChild(blocks, node.l.bytes, layer - 1, state, out)
  }
  // the node's keys are rebuilt in one scratch buffer: each shares `p` bytes with the previous one
  let key = Buffer.allocUnsafe(256)
  let prevLen = 0
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!
    const suffix = entry.k.buf
    const p = entry.p
    const len = p + suffix.length
    if (p > prevLen) throw badMst('prefix longer than previous key', cid)
    if (p < prevLen && suffix.length > 0 && suffix[0] === key[p]) {
      throw badMst('prefix compression is not maximal', cid)
    }
    if (len > key.length) {
      const bigger = Buffer.allocUnsafe(len * 2)
      key.copy(bigger, 0, 0, p)
      key = bigger
    }
    key.set(suffix, p)
    prevLen = len
    const keyBytes = key.subarray(0, len)
    if (!isValidPathBytes(keyBytes)) throw badMst(`invalid repo path ${JSON.stringify(keyBytes.toString('latin1'))}`, cid)
    const height = keyHeight(keyBytes)
    if (layer === undefined) layer = height
    else if (height !== layer) throw badMst(`key on layer ${height} in a node on layer ${layer}`, cid)
    const path = key.toString('latin1', 0, len)
    if (path <= state.last) throw badMst(`keys out of order at ${JSON.stringify(path)}`, cid)
    state.last = path
    const recordCid = entry.v.bytes
    if (recordCid[1] !== 0x71) {
      throw new VerificationError('bad-record', `record ${path} is not a dag-cbor CID`, cidBytesToString(recordCid))
    }
    const record = blocks.get(recordCid)
    if (record === undefined) {
      throw new VerificationError('missing-block', `record block for ${path} not in CAR`, cidBytesToString(recordCid))
    }
    out.paths.push(path)
    out.cids.push(recordCid)
    out.blocks.push(record)
    if (entry.t !== null) {
      if (layer === 0) throw badMst('layer-0 node has a subtree', cid)
      walkChild(blocks, entry.t.bytes, layer - 1, state, out)
    }
  }
}

const walkChild = (blocks: BlockMap, cid: Uint8Array, layer: number, state: { last: string }, out: MstLeaves): void => {
  const bytes = blocks.get(cid)
  if (bytes === undefined) throw new VerificationError('missing-block', 'MST node not in CAR', cidBytesToString(cid))
  walkNode(blocks, cid, decodeNode(cid, bytes), layer, state, out)
}

const reconstructFirstKey = (entries: NodeEntry[], cid: Uint8Array): Uint8Array => {
  const first = entries[0]
  if (first === undefined) throw badMst('root node has no entries', cid)
  return first.k.buf
}
