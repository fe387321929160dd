import { fromString } from '@atcute/cid'
import { describe, expect, it } from 'vitest'
import { BlockMap } from '../block-map.js'
import { cidBytesToString, cidForDagCbor } from '../cid.js'
import { buildMst } from '../mst-build.js'
import { readInteropJson } from '../test/helpers.js'
import { InvertError, invertOps, type InvertibleOp } from './invert.js'

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

const treeOf = (leaves: Array<{ key: string; cid: Uint8Array }>) => {
  const blocks = new BlockMap()
  const root = buildMst(leaves, (cid, bytes) => blocks.set(cid, bytes))
  return { blocks, root }
}

const fixtureOps = (p: ProofFixture, leaf: Uint8Array): InvertibleOp[] => [
  ...p.dels.filter((k) => !p.adds.includes(k)).map((path) => ({ action: 'delete' as const, path, cid: null, prev: leaf })),
  ...p.adds.map((path) => ({ action: 'create' as const, path, cid: leaf, prev: null })),
]

describe('invertOps (interop commit-proof fixtures)', () => {
  it.each(proofs.map((p) => [p.comment, p] as const))('%s: the proof blocks alone invert to rootBeforeCommit', (_c, p) => {
    const leaf = fromString(p.leafValue).bytes
    const afterKeys = [...p.keys.filter((k) => !p.dels.includes(k)), ...p.adds]
    const after = treeOf(afterKeys.map((key) => ({ key, cid: leaf })))
    expect(cidBytesToString(after.root)).toBe(p.rootAfterCommit)
    const proof = new BlockMap()
    for (const c of p.blocksInProof) {
      const cid = fromString(c).bytes
      proof.set(cid, after.blocks.get(cid)!)
    }
    const ops = fixtureOps(p, leaf)
    expect(cidBytesToString(invertOps(proof, after.root, ops))).toBe(p.rootBeforeCommit)
    // and the order of the ops does not matter (distinct paths)
    expect(cidBytesToString(invertOps(proof, after.root, [...ops].reverse()))).toBe(p.rootBeforeCommit)
  })

  it('with any one proof block left out: missing-block, or still rootBeforeCommit (never another root)', () => {
    let missing = 0
    for (const p of proofs) {
      const leaf = fromString(p.leafValue).bytes
      const afterKeys = [...p.keys.filter((k) => !p.dels.includes(k)), ...p.adds]
      const after = treeOf(afterKeys.map((key) => ({ key, cid: leaf })))
      for (const left of p.blocksInProof) {
        const proof = new BlockMap()
        for (const c of p.blocksInProof) {
          if (c === left) continue
          const cid = fromString(c).bytes
          proof.set(cid, after.blocks.get(cid)!)
        }
        try {
          expect(cidBytesToString(invertOps(proof, after.root, fixtureOps(p, leaf)))).toBe(p.rootBeforeCommit)
        } catch (err) {
          expect((err as InvertError).reason, `${p.comment} without ${left}`).toBe('missing-block')
          missing++
        }
      }
    }
    // the root and most nodes of each proof are needed
    expect(missing).toBeGreaterThanOrEqual(proofs.length)
  })
})

describe('invertOps on random trees (against the canonical builder)', () => {
  const cidOf = (n: number) => cidForDagCbor(new TextEncoder().encode(`record ${n}`))
  // a deterministic PRNG so that a failure can be replayed
  let seed = 12345
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed % n
  }
  const keyOf = (n: number) => `app.bsky.feed.post/3k${n.toString(36).padStart(8, '0')}`

  it('undoes random creates, updates and deletes on trees of 0 to 600 keys', () => {
    for (let round = 0; round < 150; round++) {
      const size = rand(round < 50 ? 8 : 600)
      const before = new Map<string, Uint8Array>()
      while (before.size < size) before.set(keyOf(rand(5000)), cidOf(rand(1000)))
      const after = new Map(before)
      const ops: InvertibleOp[] = []
      const touched = new Set<string>()
      const nOps = 1 + rand(round % 10 === 0 ? 40 : 4)
      for (let j = 0; j < nOps; j++) {
        const existing = [...after.keys()].filter((k) => !touched.has(k))
        const kind = rand(3)
        if (kind === 0 || existing.length === 0) {
          const path = keyOf(5000 + rand(5000))
          if (after.has(path) || touched.has(path)) continue
          const cid = cidOf(rand(1000))
          after.set(path, cid)
          ops.push({ action: 'create', path, cid, prev: null })
          touched.add(path)
        } else {
          const path = existing[rand(existing.length)]!
          const prev = after.get(path)!
          touched.add(path)
          if (kind === 1) {
            const cid = cidOf(1000 + rand(1000))
            after.set(path, cid)
            ops.push({ action: 'update', path, cid, prev })
          } else {
            after.delete(path)
            ops.push({ action: 'delete', path, cid: null, prev })
          }
        }
      }
      const beforeTree = treeOf([...before].map(([key, cid]) => ({ key, cid })))
      const afterTree = treeOf([...after].map(([key, cid]) => ({ key, cid })))
      expect(cidBytesToString(invertOps(afterTree.blocks, afterTree.root, ops)), `round ${round}`).toBe(cidBytesToString(beforeTree.root))
    }
  })

  it('refuses ops that do not match the tree', () => {
    const leaves = Array.from({ length: 50 }, (_, i) => ({ key: keyOf(i), cid: cidOf(i) }))
    const { blocks, root } = treeOf(leaves)
    const expectBadOp = (ops: InvertibleOp[]) => {
      let err: unknown
      try {
        invertOps(blocks, root, ops)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(InvertError)
      expect((err as InvertError).reason).toBe('bad-op')
    }
    // a create whose key is absent, or holds another CID
    expectBadOp([{ action: 'create', path: keyOf(999), cid: cidOf(1), prev: null }])
    expectBadOp([{ action: 'create', path: keyOf(3), cid: cidOf(4), prev: null }])
    // an update of an absent key or from another CID
    expectBadOp([{ action: 'update', path: keyOf(999), cid: cidOf(1), prev: cidOf(2) }])
    expectBadOp([{ action: 'update', path: keyOf(3), cid: cidOf(4), prev: cidOf(2) }])
    // a delete whose key is still there
    expectBadOp([{ action: 'delete', path: keyOf(3), cid: null, prev: cidOf(3) }])
    // missing prev
    expectBadOp([{ action: 'delete', path: keyOf(999), cid: null, prev: null }])
  })
})
