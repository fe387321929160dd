/** Blocks keyed by binary CID, for the hot paths (CAR reading, MST walks). */
import { cidBytesToString } from './cid.js'

const SEED_A = (Math.random() * 0x100000000) >>> 0
const SEED_B = ((Math.random() * 0x100000000) >>> 0) | 1

/**
 * Blocks of a CAR keyed by binary CID (36-byte sha256 CIDv1, or any other length).
 *
 * An open-addressing table over typed arrays instead of a `Map<string, …>`: no key string per
 * block, and for blocks added with `setAt` (what `readCar` does) no view object either — an entry
 * is a buffer reference and offsets into it, so that a 100k-block repo costs the GC a few typed
 * arrays, not hundreds of thousands of objects. The slot comes from digest bytes mixed with a
 * per-process seed, so crafted CIDs cannot cheaply pile into one probe chain.
 *
 * Entry `i` (0-based, in insertion order): CID at `cidBuf(i)[cidStart(i), +cidLength(i))`, bytes at
 * `dataBuf(i)[dataStart(i), dataEnd(i))`.
 */
export class BlockMap {
  private cidBufs: Uint8Array[] = []
  private dataBufs: Uint8Array[] = []
  /** per entry: cid start, cid length, data start, data end */
  private offs = new Int32Array(64)
  private count = 0
  /** per slot: entry index + 1, 0 = empty */
  private refs = new Int32Array(16)
  /** per slot: the entry's full hash, so probes and growth touch only these two arrays */
  private hashes = new Int32Array(16)
  private mask = 15

  get size(): number {
    return this.count
  }

  /** Block bytes for a binary CID (a view), or undefined. */
  get(cid: Uint8Array): Uint8Array | undefined {
    const i = this.findAt(cid, 0, cid.length)
    return i < 0 ? undefined : this.bytesOf(i)
  }

  has(cid: Uint8Array): boolean {
    return this.findAt(cid, 0, cid.length) >= 0
  }

  /** Adds a block (a later block with the same CID replaces the earlier one). */
  set(cid: Uint8Array, bytes: Uint8Array): void {
    this.setAt(cid, 0, cid.length, bytes, 0, bytes.length)
  }

  /** Adds the block whose CID is `cidBuf[cidStart, +cidLength)` and bytes `dataBuf[dataStart, dataEnd)`, without views. */
  setAt(cidBuf: Uint8Array, cidStart: number, cidLength: number, dataBuf: Uint8Array, dataStart: number, dataEnd: number): void {
    const hash = hashAt(cidBuf, cidStart, cidLength)
    let i = this.find(cidBuf, cidStart, cidLength, hash)
    if (i < 0) {
      if ((this.count + 1) * 2 > this.refs.length) this.grow()
      i = this.count++
      if (i * 4 + 4 > this.offs.length) {
        const bigger = new Int32Array(this.offs.length * 2)
        bigger.set(this.offs)
        this.offs = bigger
      }
      this.cidBufs.push(cidBuf)
      this.dataBufs.push(dataBuf)
      this.insert(hash, i + 1)
    } else {
      this.cidBufs[i] = cidBuf
      this.dataBufs[i] = dataBuf
    }
    const o = this.offs
    o[4 * i] = cidStart
    o[4 * i + 1] = cidLength
    o[4 * i + 2] = dataStart
    o[4 * i + 3] = dataEnd
  }

  /** Entry index of the block whose CID is `buf[start, +length)`, or -1. */
  findAt(buf: Uint8Array, start: number, length: number): number {
    return this.find(buf, start, length, hashAt(buf, start, length))
  }

  /** The bytes of entry `i` as a view. */
  bytesOf(i: number): Uint8Array {
    return this.dataBufs[i]!.subarray(this.offs[4 * i + 2]!, this.offs[4 * i + 3]!)
  }

  /** The CID of entry `i` as a view. */
  cidOf(i: number): Uint8Array {
    const start = this.offs[4 * i]!
    return this.cidBufs[i]!.subarray(start, start + this.offs[4 * i + 1]!)
  }

  dataBuf(i: number): Uint8Array {
    return this.dataBufs[i]!
  }

  dataStart(i: number): number {
    return this.offs[4 * i + 2]!
  }

  dataEnd(i: number): number {
    return this.offs[4 * i + 3]!
  }

  /** Iterates `[cid string, bytes]` (formats each CID: not for hot paths). */
  *entries(): IterableIterator<[string, Uint8Array]> {
    for (let i = 0; i < this.count; i++) yield [cidBytesToString(this.cidOf(i)), this.bytesOf(i)]
  }

  private find(buf: Uint8Array, start: number, length: number, hash: number): number {
    const { refs, hashes, mask } = this
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const ref = refs[slot]!
      if (ref === 0) return -1
      if (hashes[slot] === hash && this.sameCid(ref - 1, buf, start, length)) return ref - 1
    }
  }

  private sameCid(i: number, buf: Uint8Array, start: number, length: number): boolean {
    const o = this.offs
    if (o[4 * i + 1] !== length) return false
    const mine = this.cidBufs[i]!
    const at = o[4 * i]!
    // the digest differs first; the 4-byte prefix (version, codec, hash, length) is checked last
    for (let j = length - 1; j >= 0; j--) if (mine[at + j] !== buf[start + j]) return false
    return true
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
const hashAt = (cid: Uint8Array, s: number, n: number): number => {
  if (n < 12) {
    let h = SEED_A
    for (let i = 0; i < n; i++) h = Math.imul(h ^ cid[s + i]!, 0x01000193)
    return h | 0
  }
  const a = ((cid[s + 4]! << 24) | (cid[s + 5]! << 16) | (cid[s + 6]! << 8) | cid[s + 7]!) ^ SEED_A
  const b = (cid[s + 8]! << 24) | (cid[s + 9]! << 16) | (cid[s + 10]! << 8) | cid[s + 11]!
  const h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b ^ (a >>> 15), SEED_B)
  return (h ^ (h >>> 16)) | 0
}
