/** Blocks keyed by binary CID, for the hot paths (CAR reading, MST walks). */
import { cidBytesToString } from './cid.js'

const SEED_A = (Math.random() * 0x100000000) >>> 0
const SEED_B = ((Math.random() * 0x100000000) >>> 0) | 1

/**
 * Blocks of a CAR keyed by binary CID (36-byte sha256 CIDv1, or any other length).
 *
 * An open-addressing table over typed arrays instead of a `Map<string, …>`: no key string per
 * block, nothing for the GC to trace but the block views themselves, which matters for repos of
 * 100k+ blocks. The slot comes from digest bytes mixed with a per-process seed, so crafted CIDs
 * cannot cheaply pile into one probe chain.
 */
export class BlockMap {
  private cids: Uint8Array[] = []
  private blocks: Uint8Array[] = []
  /** per slot: entry index + 1, 0 = empty */
  private refs = new Int32Array(16)
  /** per slot: the entry's full hash, so probes and growth touch only these two arrays */
  private hashes = new Int32Array(16)
  private mask = 15

  get size(): number {
    return this.cids.length
  }

  /** Block bytes for a binary CID, or undefined. */
  get(cid: Uint8Array): Uint8Array | undefined {
    const i = this.find(cid, hashOf(cid))
    return i < 0 ? undefined : this.blocks[i]
  }

  has(cid: Uint8Array): boolean {
    return this.find(cid, hashOf(cid)) >= 0
  }

  /** Adds a block (a later block with the same CID replaces the earlier one). */
  set(cid: Uint8Array, bytes: Uint8Array): void {
    const hash = hashOf(cid)
    const existing = this.find(cid, hash)
    if (existing >= 0) {
      this.blocks[existing] = bytes
      return
    }
    if ((this.cids.length + 1) * 2 > this.refs.length) this.grow()
    this.cids.push(cid)
    this.blocks.push(bytes)
    this.insert(hash, this.cids.length)
  }

  /** Iterates `[cid string, bytes]` (formats each CID: not for hot paths). */
  *entries(): IterableIterator<[string, Uint8Array]> {
    for (let i = 0; i < this.cids.length; i++) yield [cidBytesToString(this.cids[i]!), this.blocks[i]!]
  }

  private find(cid: Uint8Array, hash: number): number {
    const { refs, hashes, mask } = this
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const ref = refs[slot]!
      if (ref === 0) return -1
      if (hashes[slot] === hash && sameBytes(this.cids[ref - 1]!, cid)) return ref - 1
    }
  }

  private insert(hash: number, ref: number): void {
    const { refs, hashes, mask } = this
    let slot = hash & mask
    while (refs[slot] !== 0) slot = (slot + 1) & mask
    refs[slot] = ref
    hashes[slot] = hash
  }

  private grow(): void {
    const oldRefs = this.refs
    const oldHashes = this.hashes
    this.refs = new Int32Array(oldRefs.length * 2)
    this.hashes = new Int32Array(oldRefs.length * 2)
    this.mask = this.refs.length - 1
    for (let slot = 0; slot < oldRefs.length; slot++) {
      if (oldRefs[slot] !== 0) this.insert(oldHashes[slot]!, oldRefs[slot]!)
    }
  }
}

/** Slot hash: two words of the digest (bytes 4..11 of a sha256 CIDv1), seeded and mixed. */
const hashOf = (cid: Uint8Array): number => {
  const n = cid.length
  if (n < 12) {
    let h = SEED_A
    for (let i = 0; i < n; i++) h = Math.imul(h ^ cid[i]!, 0x01000193)
    return h | 0
  }
  const a = ((cid[4]! << 24) | (cid[5]! << 16) | (cid[6]! << 8) | cid[7]!) ^ SEED_A
  const b = (cid[8]! << 24) | (cid[9]! << 16) | (cid[10]! << 8) | cid[11]!
  const h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b ^ (a >>> 15), SEED_B)
  return (h ^ (h >>> 16)) | 0
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  const n = a.length
  if (n !== b.length) return false
  // the digest differs first; the 4-byte prefix (version, codec, hash, length) is checked last
  for (let i = n - 1; i >= 0; i--) if (a[i] !== b[i]) return false
  return true
}
