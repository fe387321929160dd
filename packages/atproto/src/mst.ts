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
import { cidBytesToString } from './cid.js'
import { VerificationError } from './errors.js'
import { sha256Into, sha256LeadingZeros } from './sha256.js'

/** Layer of a key: leading zero bits of sha256(key), counted in pairs (fanout 4). */
export const keyHeight = (key: string | Uint8Array): number => {
  sha256Into(typeof key === 'string' ? Buffer.from(key, 'utf8') : key)
  return sha256LeadingZeros() >> 1
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

/**
 * Leaves of a tree in key order, without an object per leaf: leaf `i`'s path is the bytes
 * `keys[keyStart(i), keyEnds[i])` (ASCII, a valid repo path), its record CID the 36 bytes at
 * `cidBufs[i][cidStarts[i]]`, and its record block entry `blockIds[i]` of `blocks`.
 */
export interface RepoLeaves {
  count: number
  keys: Uint8Array
  keyEnds: Uint32Array
  cidBufs: Uint8Array[]
  cidStarts: Int32Array
  blocks: BlockMap
  blockIds: Int32Array
}

export const leafPath = (leaves: RepoLeaves, i: number): string =>
  Buffer.from(leaves.keys.buffer, leaves.keys.byteOffset, leaves.keys.byteLength).toString('latin1', i === 0 ? 0 : leaves.keyEnds[i - 1]!, leaves.keyEnds[i]!)

export const leafCid = (leaves: RepoLeaves, i: number): Uint8Array => leaves.cidBufs[i]!.subarray(leaves.cidStarts[i]!, leaves.cidStarts[i]! + 36)

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
const isValidPathBytes = (key: Uint8Array, length = key.length): boolean => {
  let slash = -1
  for (let i = 0; i < length; i++) {
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
  return slash > 0 && slash < length - 1
}

/**
 * Walks and verifies the tree under `root`. Also requires every leaf's record block to be present
 * (`missing-block`) and its CID to be dag-cbor (`bad-record`). Throws `VerificationError`.
 */
export const walkMst = (blocks: BlockMap, root: Uint8Array): MstLeaves => {
  const leaves = walkMstLeaves(blocks, root)
  const out: MstLeaves = { paths: [], cids: [], blocks: [] }
  for (let i = 0; i < leaves.count; i++) {
    out.paths.push(leafPath(leaves, i))
    out.cids.push(leafCid(leaves, i))
    out.blocks.push(blocks.bytesOf(leaves.blockIds[i]!))
  }
  return out
}

/** `walkMst`, with the leaves as offsets (`RepoLeaves`): what repo verification uses. */
export const walkMstLeaves = (blocks: BlockMap, root: Uint8Array): RepoLeaves => {
  const w = new Walk(blocks)
  const rootId = blocks.findAt(root, 0, root.length)
  if (rootId < 0) throw new VerificationError('missing-block', 'MST root node not in CAR', cidBytesToString(root))
  const node = w.parse(rootId, root, 0)
  if (node.count === 0) {
    if (node.l >= 0) throw badMst('root node has no entries (tree not trimmed)', root)
  } else {
    w.walk(root, 0, node, -1)
  }
  return w.leaves()
}

/** A parsed node: `count` entries at `Walk.ents[base…]` (5 ints each), offsets into `buf`. */
interface ParsedNode {
  buf: Uint8Array
  /** offset of the left subtree's 36-byte CID in `buf`, or -1 */
  l: number
  count: number
  base: number
}
// per entry in Walk.ents: key suffix start, key suffix length, prefix length, subtree CID offset (-1: none), record CID offset
const K = 0
const KLEN = 1
const P = 2
const T = 3
const V = 4

class Walk {
  /** the parsed entries of the nodes on the current path from the root (a stack) */
  ents = new Int32Array(5 * 64)
  top = 0
  /** the key being rebuilt (keys share prefixes with the previous one of their node) */
  key = new Uint8Array(256)
  keys = new Uint8Array(4096)
  keysLength = 0
  keyEnds = new Uint32Array(256)
  cidBufs: Uint8Array[] = []
  cidStarts = new Int32Array(256)
  blockIds = new Int32Array(256)
  count = 0

  constructor(readonly blocks: BlockMap) {}

  leaves(): RepoLeaves {
    return {
      count: this.count,
      keys: this.keys.subarray(0, this.keysLength),
      keyEnds: this.keyEnds.subarray(0, this.count),
      cidBufs: this.cidBufs,
      cidStarts: this.cidStarts.subarray(0, this.count),
      blocks: this.blocks,
      blockIds: this.blockIds.subarray(0, this.count),
    }
  }

  /** Parses block `id` (CID `cidBuf[cidAt…]`, for errors) onto the entry stack. */
  parse(id: number, cidBuf: Uint8Array, cidAt: number): ParsedNode {
    const blocks = this.blocks
    const buf = blocks.dataBuf(id)
    const base = this.top
    const fast = this.parseCanonical(buf, blocks.dataStart(id), blocks.dataEnd(id), base)
    if (fast) return fast
    // anything but the canonical layout: the general decoder and its checks (which throw for
    // what is not a node), then the same entries over a buffer of their own
    this.top = base
    const cid = cidBuf.subarray(cidAt, cidAt + 36)
    const node = decodeNode(cid, blocks.bytesOf(id))
    let size = 36
    for (const e of node.e) size += e.k.buf.length + 72
    const own = new Uint8Array(size)
    let at = 0
    const put = (bytes: Uint8Array): number => {
      own.set(bytes, at)
      at += bytes.length
      return at - bytes.length
    }
    const l = node.l === null ? -1 : put(node.l.bytes)
    this.reserve(node.e.length)
    const ents = this.ents
    for (const e of node.e) {
      const o = this.top
      ents[o + KLEN] = e.k.buf.length
      ents[o + K] = put(e.k.buf)
      ents[o + P] = e.p
      ents[o + T] = e.t === null ? -1 : put(e.t.bytes)
      ents[o + V] = put(e.v.bytes)
      this.top += 5
    }
    return { buf: own, l, count: node.e.length, base }
  }

  private reserve(entries: number): void {
    if (this.top + 5 * entries <= this.ents.length) return
    const bigger = new Int32Array(Math.max(this.ents.length * 2, this.top + 5 * entries))
    bigger.set(this.ents)
    this.ents = bigger
  }

  /**
   * The node's entries when its bytes are exactly the canonical DAG-CBOR of
   * `{e: [{k, p, t, v}, …], l}` (keys in canonical order, shortest argument encodings, CIDs as
   * 0x00 + sha256 CIDv1 dag-cbor/raw, nothing else in the maps); null otherwise. Such bytes
   * decode to exactly what decodeNode accepts, with the same values.
   */
  private parseCanonical(b: Uint8Array, s: number, e: number, base: number): ParsedNode | null {
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
    this.reserve(n)
    const ents = this.ents
    let o = base
    for (let i = 0; i < n; i++, o += 5) {
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
    this.top = base + 5 * n
    return { buf: b, l, count: n, base }
  }

  /** Walks a parsed node (CID at `cidBuf[cidAt…]`) on `layer` (-1: the root, layer not known yet). */
  walk(cidBuf: Uint8Array, cidAt: number, node: ParsedNode, expectedLayer: number): void {
    const { buf, count, base } = node
    const cid = () => cidBuf.subarray(cidAt, cidAt + 36)
    let layer = expectedLayer
    if (count === 0 && node.l < 0) throw badMst('empty non-root node', cid())
    if (node.l >= 0) {
      // layer is known from the parent except at the root, where the first key gives it
      if (layer < 0) {
        if (count === 0) throw badMst('root node has no entries', cid())
        sha256Into(buf, this.ents[base + K]!, this.ents[base + K]! + this.ents[base + KLEN]!)
        layer = sha256LeadingZeros() >> 1
      }
      if (layer === 0) throw badMst('layer-0 node has a subtree', cid())
      this.child(buf, node.l, layer - 1)
    }
    // each key shares `p` bytes with the node's previous key, which is the last leaf pushed by
    // this node (its subtrees' keys come after it): rebuilt from there in the scratch buffer
    let prevLen = 0
    let prevStart = 0
    for (let i = 0; i < count; i++) {
      // the stack may have been reallocated by a subtree
      const ents = this.ents
      const o = base + 5 * i
      const ks = ents[o + K]!
      const slen = ents[o + KLEN]!
      const p = ents[o + P]!
      const tAt = ents[o + T]!
      const vAt = ents[o + V]!
      const len = p + slen
      if (p > prevLen) throw badMst('prefix longer than previous key', cid())
      if (p < prevLen && slen > 0 && buf[ks] === this.keys[prevStart + p]) throw badMst('prefix compression is not maximal', cid())
      if (len > this.key.length) this.key = new Uint8Array(len * 2)
      const key = this.key
      const keys = this.keys
      for (let j = 0; j < p; j++) key[j] = keys[prevStart + j]!
      for (let j = 0; j < slen; j++) key[p + j] = buf[ks + j]!
      prevLen = len
      if (!isValidPathBytes(key, len)) throw badMst(`invalid repo path ${JSON.stringify(Buffer.from(key.subarray(0, len)).toString('latin1'))}`, cid())
      sha256Into(key, 0, len)
      const height = sha256LeadingZeros() >> 1
      if (layer < 0) layer = height
      else if (height !== layer) throw badMst(`key on layer ${height} in a node on layer ${layer}`, cid())
      this.push(key, len, buf, vAt, cid)
      prevStart = this.keysLength - len
      if (tAt >= 0) {
        if (layer === 0) throw badMst('layer-0 node has a subtree', cid())
        this.child(buf, tAt, layer - 1)
      }
    }
    this.top = base
  }

  private child(cidBuf: Uint8Array, cidAt: number, layer: number): void {
    const id = this.blocks.findAt(cidBuf, cidAt, 36)
    if (id < 0) throw new VerificationError('missing-block', 'MST node not in CAR', cidBytesToString(cidBuf.subarray(cidAt, cidAt + 36)))
    this.walk(cidBuf, cidAt, this.parse(id, cidBuf, cidAt), layer)
  }

  /** Appends a leaf: key order, the record CID's codec and the record block's presence are checked. */
  private push(key: Uint8Array, len: number, cidBuf: Uint8Array, cidAt: number, nodeCid: () => Uint8Array): void {
    const n = this.count
    const keys = this.keys
    if (n > 0) {
      // strictly after the previous leaf (bytewise; paths are ASCII)
      const ps = n === 1 ? 0 : this.keyEnds[n - 2]!
      const pl = this.keyEnds[n - 1]! - ps
      let cmp = 0
      const m = Math.min(pl, len)
      for (let j = 0; j < m && cmp === 0; j++) cmp = key[j]! - keys[ps + j]!
      if (cmp === 0) cmp = len - pl
      if (cmp <= 0) throw badMst(`keys out of order at ${JSON.stringify(Buffer.from(key.subarray(0, len)).toString('latin1'))}`, nodeCid())
    }
    if (cidBuf[cidAt + 1] !== 0x71) {
      throw new VerificationError('bad-record', `record ${latin1(key, len)} is not a dag-cbor CID`, cidBytesToString(cidBuf.subarray(cidAt, cidAt + 36)))
    }
    const id = this.blocks.findAt(cidBuf, cidAt, 36)
    if (id < 0) throw new VerificationError('missing-block', `record block for ${latin1(key, len)} not in CAR`, cidBytesToString(cidBuf.subarray(cidAt, cidAt + 36)))
    if (this.keysLength + len > keys.length) {
      const bigger = new Uint8Array(Math.max(keys.length * 2, this.keysLength + len))
      bigger.set(keys.subarray(0, this.keysLength))
      this.keys = bigger
    }
    const arena = this.keys
    const at = this.keysLength
    for (let j = 0; j < len; j++) arena[at + j] = key[j]!
    this.keysLength += len
    if (n === this.keyEnds.length) {
      const size = n * 2
      const ke = new Uint32Array(size)
      ke.set(this.keyEnds)
      this.keyEnds = ke
      const cs = new Int32Array(size)
      cs.set(this.cidStarts)
      this.cidStarts = cs
      const bi = new Int32Array(size)
      bi.set(this.blockIds)
      this.blockIds = bi
    }
    this.keyEnds[n] = this.keysLength
    this.cidBufs.push(cidBuf)
    this.cidStarts[n] = cidAt
    this.blockIds[n] = id
    this.count = n + 1
  }
}

const latin1 = (key: Uint8Array, len: number): string => Buffer.from(key.buffer, key.byteOffset, len).toString('latin1')

/** 0xd8 0x2a (tag 42), 0x58 0x25 (37 bytes), 0x00, then a sha256 CIDv1 with the dag-cbor or raw codec. */
const isCidAt = (b: Uint8Array, p: number, e: number): boolean =>
  p + 41 <= e && b[p] === 0xd8 && b[p + 1] === 0x2a && b[p + 2] === 0x58 && b[p + 3] === 0x25 && b[p + 4] === 0 &&
  b[p + 5] === 1 && (b[p + 6] === 0x71 || b[p + 6] === 0x55) && b[p + 7] === 0x12 && b[p + 8] === 0x20
