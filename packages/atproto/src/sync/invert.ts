/**
 * Commit-proof inversion (sync 1.1): starting from the new tree of a `#commit` (only the nodes in
 * the frame's blocks: the covering proof of each written key), undo each op and return the root
 * CID of the tree before the commit, to compare with the frame's `prevData`. As @atproto/repo's
 * and indigo's inversion: create → delete the key (it must hold the op's CID), update → set the
 * key back to `prev` (it must hold the op's CID), delete → insert `prev` (the key must be absent).
 *
 * Nodes are read lazily; a node the inversion must open that is not in the blocks throws
 * `InvertError('missing-block')`. Untouched subtrees keep their CIDs; touched nodes are encoded
 * canonically and hashed. Node layers are checked against the sha256 key-height rule for every
 * key of every node opened, so a non-canonical new tree cannot pass.
 */
import type { BlockMap } from '../block-map.js'
import { cidBytesToString } from '../cid.js'
import { keyHeight } from '../mst.js'
import { cidOfNode, decodeNodeData, encodeNodeData, MstNodeError } from './mst-node.js'

export interface InvertibleOp {
  action: 'create' | 'update' | 'delete'
  /** `<collection>/<rkey>` */
  path: string
  /** the record CID after the commit (create, update), binary */
  cid: Uint8Array | null
  /** the record CID before the commit (update, delete), binary */
  prev: Uint8Array | null
}

export class InvertError extends Error {
  override name = 'InvertError'
  constructor(
    /** `missing-block`: a node the inversion needs is not in the blocks; `bad-op`: an op does not match the tree; `bad-mst`: a node is not a canonical MST node */
    readonly reason: 'missing-block' | 'bad-op' | 'bad-mst',
    message: string,
  ) {
    super(`${reason}: ${message}`)
  }
}

interface Node {
  /** null once modified (encoded again at the end) */
  cid: Uint8Array | null
  layer: number
  loaded: boolean
  keys: Uint8Array[]
  vals: Uint8Array[]
  /** gaps[i]: subtree before keys[i]; gaps[keys.length]: after the last key */
  gaps: Array<Node | null>
}

const compare = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}
const sameCid = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false
  return true
}
const text = (key: Uint8Array): string => Buffer.from(key).toString('latin1')

const stub = (cid: Uint8Array, layer: number): Node => ({ cid, layer, loaded: false, keys: [], vals: [], gaps: [] })
const fresh = (layer: number, keys: Uint8Array[], vals: Uint8Array[], gaps: Array<Node | null>): Node => ({
  cid: null,
  layer,
  loaded: true,
  keys,
  vals,
  gaps,
})
const isEmpty = (n: Node): boolean => n.keys.length === 0 && n.gaps[0] === null

class PartialTree {
  root: Node

  constructor(
    private readonly blocks: BlockMap,
    rootCid: Uint8Array,
  ) {
    const root = stub(rootCid, -1)
    this.load(root)
    if (root.layer < 0) {
      if (root.gaps[0] !== null) throw new InvertError('bad-mst', 'root node has no entries but a subtree')
      root.layer = 0
    }
    this.root = root
  }

  /** Reads a stub's block; the layer of a root (-1) is its first key's height. */
  private load(node: Node): void {
    if (node.loaded) return
    const cid = node.cid!
    const bytes = this.blocks.get(cid)
    if (bytes === undefined) throw new InvertError('missing-block', `MST node ${cidBytesToString(cid)} is not in the blocks`)
    let data: ReturnType<typeof decodeNodeData>
    try {
      data = decodeNodeData(bytes)
    } catch (err) {
      if (err instanceof MstNodeError) throw new InvertError('bad-mst', `${cidBytesToString(cid)}: ${err.message}`)
      throw err
    }
    let layer = node.layer
    for (let i = 0; i < data.keys.length; i++) {
      const key = data.keys[i]!
      const height = keyHeight(key)
      if (layer < 0) layer = height
      else if (height !== layer) throw new InvertError('bad-mst', `key ${text(key)} of height ${height} in a node of layer ${layer}`)
      if (i > 0 && compare(data.keys[i - 1]!, key) >= 0) throw new InvertError('bad-mst', `keys out of order in ${cidBytesToString(cid)}`)
    }
    node.layer = layer
    if (layer === 0 && data.gaps.some((g) => g !== null))
      throw new InvertError('bad-mst', `layer-0 node ${cidBytesToString(cid)} has a subtree`)
    node.keys = data.keys
    node.vals = data.vals
    node.gaps = data.gaps.map((g) => (g === null ? null : stub(g, layer - 1)))
    node.loaded = true
  }

  /** First index whose key is ≥ `key`. */
  private indexOf(node: Node, key: Uint8Array): number {
    const keys = node.keys
    let lo = 0
    let hi = keys.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (compare(keys[mid]!, key) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Sets `key` (absent) to `val`. */
  insert(key: Uint8Array, val: Uint8Array): void {
    const height = keyHeight(key)
    let root = this.root
    if (height > root.layer) {
      if (isEmpty(root)) root = fresh(height, [], [], [null])
      else {
        while (root.layer < height) root = fresh(root.layer + 1, [], [], [root])
      }
    }
    this.root = root
    this.insertAt(root, key, val, height)
  }

  private insertAt(node: Node, key: Uint8Array, val: Uint8Array, height: number): void {
    this.load(node)
    node.cid = null
    const i = this.indexOf(node, key)
    if (i < node.keys.length && compare(node.keys[i]!, key) === 0)
      throw new InvertError('bad-op', `${text(key)} is in the tree after the commit`)
    if (height === node.layer) {
      const [lo, hi] = this.split(node.gaps[i]!, key)
      node.keys.splice(i, 0, key)
      node.vals.splice(i, 0, val)
      node.gaps.splice(i, 1, lo, hi)
      return
    }
    let sub = node.gaps[i]!
    if (sub === null) {
      sub = fresh(node.layer - 1, [], [], [null])
      node.gaps[i] = sub
    }
    this.insertAt(sub, key, val, height)
  }

  /** The parts of a subtree below and above `key` (absent from it). */
  private split(node: Node | null, key: Uint8Array): [Node | null, Node | null] {
    if (node === null) return [null, null]
    this.load(node)
    const i = this.indexOf(node, key)
    if (i < node.keys.length && compare(node.keys[i]!, key) === 0)
      throw new InvertError('bad-op', `${text(key)} is in the tree after the commit`)
    const [sl, sh] = this.split(node.gaps[i]!, key)
    const lo = fresh(node.layer, node.keys.slice(0, i), node.vals.slice(0, i), [...node.gaps.slice(0, i), sl])
    const hi = fresh(node.layer, node.keys.slice(i), node.vals.slice(i), [sh, ...node.gaps.slice(i + 1)])
    return [isEmpty(lo) ? null : lo, isEmpty(hi) ? null : hi]
  }

  /** Removes `key`, which must hold `expected`. */
  remove(key: Uint8Array, expected: Uint8Array): void {
    const root = this.removeAt(this.root, key, keyHeight(key), expected)
    let top = root ?? fresh(0, [], [], [null])
    // a root with no keys but a subtree is trimmed to that subtree
    for (;;) {
      if (top.keys.length > 0 || top.gaps[0] === null) break
      const below = top.gaps[0]!
      this.load(below)
      top = below
    }
    this.root = top
  }

  private removeAt(node: Node, key: Uint8Array, height: number, expected: Uint8Array): Node | null {
    this.load(node)
    node.cid = null
    const i = this.indexOf(node, key)
    if (height === node.layer) {
      if (i >= node.keys.length || compare(node.keys[i]!, key) !== 0)
        throw new InvertError('bad-op', `${text(key)} is not in the tree after the commit`)
      if (!sameCid(node.vals[i]!, expected)) throw new InvertError('bad-op', `${text(key)} holds another CID than the op's`)
      const merged = this.merge(node.gaps[i]!, node.gaps[i + 1]!)
      node.keys.splice(i, 1)
      node.vals.splice(i, 1)
      node.gaps.splice(i, 2, merged)
    } else {
      const sub = node.gaps[i]!
      if (height > node.layer || sub === null) throw new InvertError('bad-op', `${text(key)} is not in the tree after the commit`)
      node.gaps[i] = this.removeAt(sub, key, height, expected)
    }
    return isEmpty(node) ? null : node
  }

  /** Joins two adjacent subtrees of one layer (all keys of `a` below those of `b`). */
  private merge(a: Node | null, b: Node | null): Node | null {
    if (a === null) return b
    if (b === null) return a
    this.load(a)
    this.load(b)
    const seam = this.merge(a.gaps[a.keys.length]!, b.gaps[0]!)
    return fresh(a.layer, [...a.keys, ...b.keys], [...a.vals, ...b.vals], [...a.gaps.slice(0, a.keys.length), seam, ...b.gaps.slice(1)])
  }

  /** Sets `key`, which must hold `expected`, to `val`. */
  replace(key: Uint8Array, expected: Uint8Array, val: Uint8Array): void {
    const height = keyHeight(key)
    let node: Node | null = this.root
    while (node !== null) {
      this.load(node)
      node.cid = null
      const i = this.indexOf(node, key)
      if (height === node.layer) {
        if (i >= node.keys.length || compare(node.keys[i]!, key) !== 0) break
        if (!sameCid(node.vals[i]!, expected)) throw new InvertError('bad-op', `${text(key)} holds another CID than the op's`)
        node.vals[i] = val
        return
      }
      node = height > node.layer ? null : node.gaps[i]!
    }
    throw new InvertError('bad-op', `${text(key)} is not in the tree after the commit`)
  }

  /** Encodes the modified nodes; the root's CID. */
  rootCid(): Uint8Array {
    return this.encode(this.root)
  }

  private encode(node: Node): Uint8Array {
    if (node.cid !== null) return node.cid
    const gaps = node.gaps.map((g) => (g === null ? null : this.encode(g)))
    node.cid = cidOfNode(encodeNodeData(node.keys, node.vals, gaps))
    return node.cid
  }
}

/**
 * Undoes `ops` (in reverse order) on the tree whose root is `dataCid`, reading nodes from
 * `blocks`; returns the previous root CID (binary). Throws `InvertError`.
 */
export const invertOps = (blocks: BlockMap, dataCid: Uint8Array, ops: readonly InvertibleOp[]): Uint8Array => {
  const tree = new PartialTree(blocks, dataCid)
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i]!
    const key = Buffer.from(op.path, 'latin1')
    switch (op.action) {
      case 'create':
        if (op.cid === null) throw new InvertError('bad-op', `create of ${op.path} without a cid`)
        tree.remove(key, op.cid)
        break
      case 'update':
        if (op.cid === null || op.prev === null) throw new InvertError('bad-op', `update of ${op.path} without cid and prev`)
        tree.replace(key, op.cid, op.prev)
        break
      case 'delete':
        if (op.prev === null) throw new InvertError('bad-op', `delete of ${op.path} without prev`)
        tree.insert(key, op.prev)
        break
    }
  }
  return tree.rootCid()
}
