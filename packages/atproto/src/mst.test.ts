import { encode, toBytes } from '@atcute/cbor'
import { CidLinkWrapper, fromString, type CidLink } from '@atcute/cid'
import { describe, expect, it } from 'vitest'
import { BlockMap } from './car.js'
import { cidBytesToString, cidForDagCbor } from './cid.js'
import { VerificationError } from './errors.js'
import { buildMst } from './mst-build.js'
import { commonPrefixLength, keyHeight, walkMst } from './mst.js'
import { readInteropJson } from './test/helpers.js'

const heights = readInteropJson<Array<{ key: string; height: number }>>('mst/key_heights.json')
const prefixes = readInteropJson<Array<{ left: string; right: string; len: number }>>('mst/common_prefix.json')
interface ProofFixture {
  comment: string
  leafValue: string
  keys: string[]
  adds: string[]
  dels: string[]
  rootBeforeCommit: string
  rootAfterCommit: string
  blocksInProof: string[]
}
const proofs = readInteropJson<ProofFixture[]>('firehose/commit-proof-fixtures.json')

const treeOf = (keys: string[], leaf: Uint8Array) => {
  const blocks = new BlockMap()
  blocks.set(leaf, new Uint8Array([0xa0])) // the walk only needs record blocks to be present
  const root = buildMst(
    keys.map((key) => ({ key, cid: leaf })),
    (cid, bytes) => blocks.set(cid, bytes),
  )
  return { blocks, root }
}

describe('MST helpers (interop mst fixtures)', () => {
  it.each(heights.map((h) => [h.key, h.height] as const))('keyHeight(%j) = %i', (key, height) => {
    expect(keyHeight(key)).toBe(height)
  })
  it.each(prefixes.map((p) => [p.left, p.right, p.len] as const))('commonPrefixLength(%j, %j) = %i', (l, r, len) => {
    expect(commonPrefixLength(l, r)).toBe(len)
  })
})

describe('MST build and walk (interop commit-proof fixtures)', () => {
  it.each(proofs.map((p) => [p.comment, p] as const))('%s', (_c, p) => {
    const leaf = fromString(p.leafValue).bytes
    const before = treeOf(p.keys, leaf)
    expect(cidBytesToString(before.root)).toBe(p.rootBeforeCommit)
    expect(walkMst(before.blocks, before.root).paths).toEqual([...p.keys].sort())

    const afterKeys = [...p.keys.filter((k) => !p.dels.includes(k)), ...p.adds]
    const after = treeOf(afterKeys, leaf)
    expect(cidBytesToString(after.root)).toBe(p.rootAfterCommit)
    const walked = walkMst(after.blocks, after.root)
    expect(walked.paths).toEqual([...afterKeys].sort())
    expect(walked.cids.every((c) => cidBytesToString(c) === p.leafValue)).toBe(true)
    // the proof blocks are part of the rebuilt tree
    for (const cid of p.blocksInProof) expect(after.blocks.has(fromString(cid).bytes)).toBe(true)
  })
})

/** Hand-made trees to exercise the checks the canonical builder never violates. */
describe('walkMst rejects malformed trees', () => {
  const leaf = cidForDagCbor(new Uint8Array([0xa0]))
  const link = (c: Uint8Array) => new CidLinkWrapper(c)
  const put = (blocks: BlockMap, node: unknown): Uint8Array => {
    const bytes = encode(node)
    const cid = cidForDagCbor(bytes)
    blocks.set(cid, bytes)
    return cid
  }
  const withLeaf = () => {
    const b = new BlockMap()
    b.set(leaf, new Uint8Array([0xa0]))
    return b
  }
  const entry = (k: string, p = 0, t: CidLink | null = null) => ({ k: toBytes(Buffer.from(k)), p, t, v: link(leaf) })
  // layer-0 keys (found by keyHeight) to build flat nodes
  const layer0 = Array.from({ length: 200 }, (_, i) => `com.example.record/k${String(i).padStart(4, '0')}`).filter(
    (k) => keyHeight(k) === 0,
  )
  const layer1 = Array.from({ length: 400 }, (_, i) => `com.example.record/k${String(i).padStart(4, '0')}`).filter(
    (k) => keyHeight(k) === 1,
  )

  const expectReason = (fn: () => unknown, reason: string) => {
    try {
      fn()
    } catch (err) {
      expect(err).toBeInstanceOf(VerificationError)
      expect((err as VerificationError).reason).toBe(reason)
      return
    }
    throw new Error('expected a VerificationError')
  }

  it('accepts a hand-made canonical node (sanity check of the fixtures below)', () => {
    const b = withLeaf()
    const [a, c] = [layer0[0]!, layer0[1]!]
    const p = commonPrefixLength(a, c)
    const root = put(b, { l: null, e: [entry(a), entry(c.slice(p), p)] })
    expect(walkMst(b, root).paths).toEqual([a, c])
  })
  it('keys out of order', () => {
    const b = withLeaf()
    const root = put(b, { l: null, e: [entry(layer0[1]!), entry(layer0[0]!)] })
    expectReason(() => walkMst(b, root), 'bad-mst')
  })
  it('duplicate keys', () => {
    const b = withLeaf()
    const root = put(b, { l: null, e: [entry(layer0[0]!), entry(layer0[0]!)] })
    expectReason(() => walkMst(b, root), 'bad-mst')
  })
  it('non-maximal prefix compression', () => {
    const b = withLeaf()
    const root = put(b, { l: null, e: [entry(layer0[0]!), entry(layer0[1]!)] })
    expectReason(() => walkMst(b, root), 'bad-mst')
  })
  it('prefix longer than the previous key', () => {
    const b = withLeaf()
    const root = put(b, { l: null, e: [entry(layer0[0]!, 1)] })
    expectReason(() => walkMst(b, root), 'bad-mst')
  })
  it('keys of different layers in one node', () => {
    const b = withLeaf()
    const [x, y] = [layer0[0]!, layer1[0]!].sort()
    const p = commonPrefixLength(x!, y!)
    const root = put(b, { l: null, e: [entry(x!), entry(y!.slice(p), p)] })
    expectReason(() => walkMst(b, root), 'bad-mst')
  })
  it('a subtree on the wrong layer', () => {
    const b = withLeaf()
    // a layer-1 key whose left subtree is a node holding another layer-1 key
    const [x, y] = [layer1[0]!, layer1[1]!].sort()
    const child = put(b, { l: null, e: [entry(x!)] })
    const root = put(b, { l: link(child), e: [entry(y!)] })
    expectReason(() => walkMst(b, root), 'bad-mst')
  })
  it('a subtree holding keys outside its range', () => {
    const b = withLeaf()
    const small = layer0.filter((k) => k < layer1[0]!)
    const big = layer0.filter((k) => k > layer1[0]!)
    expect(small.length && big.length).toBeTruthy()
    const child = put(b, { l: null, e: [entry(big[0]!)] })
    const root = put(b, { l: link(child), e: [entry(layer1[0]!)] })
    expectReason(() => walkMst(b, root), 'bad-mst')
    // the same child on the right is fine
    const ok = put(b, { l: null, e: [{ ...entry(layer1[0]!), t: link(child) }] })
    expect(walkMst(b, ok).paths).toEqual([layer1[0], big[0]])
  })
  it('a root without entries that points down (untrimmed)', () => {
    const b = withLeaf()
    const child = put(b, { l: null, e: [entry(layer0[0]!)] })
    const root = put(b, { l: link(child), e: [] })
    expectReason(() => walkMst(b, root), 'bad-mst')
  })
  it('an empty non-root node', () => {
    const b = withLeaf()
    const child = put(b, { l: null, e: [] })
    const root = put(b, { l: link(child), e: [entry(layer1[0]!)] })
    expectReason(() => walkMst(b, root), 'bad-mst')
  })
  it('invalid repo paths', () => {
    for (const key of ['noslash', 'a/b/c', '/rkey', 'coll/', 'coll/with space']) {
      const b = withLeaf()
      const root = put(b, { l: null, e: [entry(key)] })
      expectReason(() => walkMst(b, root), 'bad-mst')
    }
  })
  it('malformed node shapes', () => {
    for (const node of [{ l: null }, { e: [] }, { l: null, e: [{ k: 'str', p: 0, t: null, v: link(leaf) }] }, [1, 2]]) {
      const b = withLeaf()
      expectReason(() => walkMst(b, put(b, node)), 'bad-mst')
    }
  })
  it('missing node and missing record blocks', () => {
    const b = withLeaf()
    const missing = cidForDagCbor(new Uint8Array([1, 2, 3]))
    const root = put(b, { l: link(missing), e: [entry(layer1[0]!)] })
    expectReason(() => walkMst(b, root), 'missing-block')
    const b2 = new BlockMap()
    const root2 = put(b2, { l: null, e: [entry(layer0[0]!)] })
    expectReason(() => walkMst(b2, root2), 'missing-block')
    expectReason(() => walkMst(new BlockMap(), root2), 'missing-block')
  })
  it('nodes outside the canonical layout (extra fields) take the general decoder and walk the same', () => {
    const [x, y] = [layer1[0]!, layer1[1]!].sort()
    const plain = withLeaf()
    const small = layer0.filter((k) => k < x!)
    const child = put(plain, { l: null, e: [entry(small[0]!)] })
    const root = put(plain, { l: link(child), e: [entry(x!), entry(y!.slice(commonPrefixLength(x!, y!)), commonPrefixLength(x!, y!))] })
    const want = walkMst(plain, root)
    expect(want.paths).toEqual([small[0], x, y])
    const odd = withLeaf()
    const oddChild = put(odd, { l: null, e: [{ ...entry(small[0]!), extra: 1 }], z: 'x' })
    const oddRoot = put(odd, {
      l: link(oddChild),
      e: [entry(x!), { ...entry(y!.slice(commonPrefixLength(x!, y!)), commonPrefixLength(x!, y!)), zz: true }],
    })
    const got = walkMst(odd, oddRoot)
    expect(got.paths).toEqual(want.paths)
    expect(got.cids.map(cidBytesToString)).toEqual(want.cids.map(cidBytesToString))
    // and the checks still apply on that path
    const bad = withLeaf()
    const badRoot = put(bad, { l: null, e: [{ ...entry(layer0[1]!), extra: 1 }, entry(layer0[0]!)] })
    expectReason(() => walkMst(bad, badRoot), 'bad-mst')
  })
  it('an empty tree has no leaves', () => {
    const b = new BlockMap()
    const root = buildMst([], (cid, bytes) => b.set(cid, bytes))
    expect(walkMst(b, root).paths).toEqual([])
  })
})
