/**
 * Builds the canonical MST for a set of keys (for tests, benches and fixtures; the apps only read
 * trees). Nodes are written through `put`; the root node's CID is returned.
 */
import { encode as encodeCbor, toBytes } from '@atcute/cbor'
import { CidLinkWrapper } from '@atcute/cid'
import { cidForDagCbor } from './cid.js'
import { commonPrefixLength, keyHeight } from './mst.js'

export interface MstLeaf {
  /** `<collection>/<rkey>` */
  key: string
  /** binary CID of the record block */
  cid: Uint8Array
}

export type PutBlock = (cid: Uint8Array, bytes: Uint8Array) => void

interface Item {
  key: Buffer
  height: number
  cid: Uint8Array
}

/** `leaves` need not be sorted; keys must be unique. Returns the root node's binary CID. */
export const buildMst = (leaves: Iterable<MstLeaf>, put: PutBlock): Uint8Array => {
  const items: Item[] = []
  for (const leaf of leaves) {
    const key = Buffer.from(leaf.key, 'utf8')
    items.push({ key, height: keyHeight(key), cid: leaf.cid })
  }
  items.sort((a, b) => Buffer.compare(a.key, b.key))
  for (let i = 1; i < items.length; i++) {
    if (Buffer.compare(items[i - 1]!.key, items[i]!.key) === 0) {
      throw new Error(`duplicate MST key ${items[i]!.key.toString('utf8')}`)
    }
  }
  let top = 0
  for (const item of items) if (item.height > top) top = item.height
  return buildNode(items, 0, items.length, top, put)
}

const buildNode = (items: Item[], from: number, to: number, layer: number, put: PutBlock): Uint8Array => {
  const entries: Array<{ k: unknown; p: number; t: CidLinkWrapper | null; v: CidLinkWrapper }> = []
  let left: CidLinkWrapper | null = null
  let groupStart = from
  let prevKey: Buffer | null = null
  const subtree = (start: number, end: number): CidLinkWrapper | null =>
    start < end ? new CidLinkWrapper(buildNode(items, start, end, layer - 1, put)) : null
  for (let i = from; i < to; i++) {
    const item = items[i]!
    if (item.height < layer) continue
    // items [groupStart, i) are below this layer: they form the subtree before this entry
    const below = subtree(groupStart, i)
    if (entries.length === 0) left = below
    else entries[entries.length - 1]!.t = below
    const p = prevKey === null ? 0 : commonPrefixLength(prevKey, item.key)
    entries.push({ k: toBytes(item.key.subarray(p)), p, t: null, v: new CidLinkWrapper(item.cid) })
    prevKey = item.key
    groupStart = i + 1
  }
  const tail = subtree(groupStart, to)
  if (entries.length === 0) left = tail
  else entries[entries.length - 1]!.t = tail
  const bytes = encodeCbor({ l: left, e: entries })
  const cid = cidForDagCbor(bytes)
  put(cid, bytes)
  return cid
}
