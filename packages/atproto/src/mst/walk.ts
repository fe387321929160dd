/**
 * The verifying walk over a repo's tree (see `walkMstLeaves` in `../mst.ts`): node by node from
 * the root, entries kept on one flat stack of ints, keys rebuilt in one scratch buffer, leaves
 * appended to flat arrays (`RepoLeaves`) without an object per leaf.
 */
import type { BlockMap } from '../car.js'
import { cidBytesToString } from '../cid.js'
import { VerificationError } from '../errors.js'
import { sha256Into, sha256LeadingZeros } from '../sha256.js'
import { isValidPathBytes } from './key.js'
import type { RepoLeaves } from './leaves.js'
import { decodeNodeGeneral, ENTRY_INTS, K, KLEN, MstNodeError, P, parseCanonicalNode, T, V, type DecodedNode } from './node-decode.js'

export const badMst = (message: string, cid?: Uint8Array): VerificationError =>
  new VerificationError('bad-mst', message, cid ? cidBytesToString(cid) : undefined)

/** A parsed node: `count` entries at `Walk.ents[base…]` (5 ints each), offsets into `buf`. */
interface ParsedNode {
  buf: Uint8Array
  /** offset of the left subtree's 36-byte CID in `buf`, or -1 */
  l: number
  count: number
  base: number
}
export class Walk {
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

  private readonly grow = (needed: number): Int32Array => this.reserve(needed)

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
    const fast = parseCanonicalNode(buf, blocks.dataStart(id), blocks.dataEnd(id), base, this.grow)
    if (fast) {
      this.top = base + ENTRY_INTS * fast.count
      return { buf, l: fast.l, count: fast.count, base }
    }
    // anything but the canonical layout: the general decoder and its checks (which throw for
    // what is not a node), then the same entries over a buffer of their own
    this.top = base
    const cid = cidBuf.subarray(cidAt, cidAt + 36)
    let node: DecodedNode
    try {
      node = decodeNodeGeneral(blocks.bytesOf(id))
    } catch (err) {
      if (!(err instanceof MstNodeError)) throw err
      const cause = err.cause === undefined ? undefined : { cause: err.cause }
      throw new VerificationError('bad-mst', err.message, cidBytesToString(cid), cause)
    }
    let size = 36
    for (const e of node.e) size += e.k.length + 72
    const own = new Uint8Array(size)
    let at = 0
    const put = (bytes: Uint8Array): number => {
      own.set(bytes, at)
      at += bytes.length
      return at - bytes.length
    }
    const l = node.l === null ? -1 : put(node.l)
    const ents = this.reserve(this.top + ENTRY_INTS * node.e.length)
    for (const e of node.e) {
      const o = this.top
      ents[o + KLEN] = e.k.length
      ents[o + K] = put(e.k)
      ents[o + P] = e.p
      ents[o + T] = e.t === null ? -1 : put(e.t)
      ents[o + V] = put(e.v)
      this.top += ENTRY_INTS
    }
    return { buf: own, l, count: node.e.length, base }
  }

  /** The entry stack, at least `needed` ints long. */
  private reserve(needed: number): Int32Array {
    if (needed <= this.ents.length) return this.ents
    const bigger = new Int32Array(Math.max(this.ents.length * 2, needed))
    bigger.set(this.ents)
    this.ents = bigger
    return bigger
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
      const o = base + ENTRY_INTS * i
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
      if (!isValidPathBytes(key, len))
        throw badMst(`invalid repo path ${JSON.stringify(Buffer.from(key.subarray(0, len)).toString('latin1'))}`, cid())
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
      throw new VerificationError(
        'bad-record',
        `record ${latin1(key, len)} is not a dag-cbor CID`,
        cidBytesToString(cidBuf.subarray(cidAt, cidAt + 36)),
      )
    }
    const id = this.blocks.findAt(cidBuf, cidAt, 36)
    if (id < 0)
      throw new VerificationError(
        'missing-block',
        `record block for ${latin1(key, len)} not in CAR`,
        cidBytesToString(cidBuf.subarray(cidAt, cidAt + 36)),
      )
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
