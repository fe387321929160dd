/**
 * CAR v1 → block map. Blocks are views into the input (no copies). By default every block is
 * checked against its CID (sha256; dag-cbor or raw codec).
 */
import { fromUint8Array as readCarEntries } from '@atcute/car'
import { CidLinkWrapper } from '@atcute/cid'
import { cidBytesToString, cidMatchesBytes } from './cid.js'
import { CarParseError, VerificationError } from './errors.js'

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
  /** entry index + 1 per slot, 0 = empty */
  private table = new Int32Array(1024)
  private mask = 1023

  get size(): number {
    return this.cids.length
  }

  /** Block bytes for a binary CID, or undefined. */
  get(cid: Uint8Array): Uint8Array | undefined {
    const i = this.find(cid)
    return i < 0 ? undefined : this.blocks[i]
  }

  has(cid: Uint8Array): boolean {
    return this.find(cid) >= 0
  }

  /** Adds a block (a later block with the same CID replaces the earlier one). */
  set(cid: Uint8Array, bytes: Uint8Array): void {
    const existing = this.find(cid)
    if (existing >= 0) {
      this.blocks[existing] = bytes
      return
    }
    if ((this.cids.length + 1) * 2 > this.table.length) this.grow()
    this.cids.push(cid)
    this.blocks.push(bytes)
    this.insert(cid, this.cids.length)
  }

  /** Iterates `[cid string, bytes]` (formats each CID: not for hot paths). */
  *entries(): IterableIterator<[string, Uint8Array]> {
    for (let i = 0; i < this.cids.length; i++) yield [cidBytesToString(this.cids[i]!), this.blocks[i]!]
  }

  private find(cid: Uint8Array): number {
    const table = this.table
    const mask = this.mask
    for (let slot = slotOf(cid) & mask; ; slot = (slot + 1) & mask) {
      const ref = table[slot]!
      if (ref === 0) return -1
      if (sameBytes(this.cids[ref - 1]!, cid)) return ref - 1
    }
  }

  private insert(cid: Uint8Array, ref: number): void {
    const table = this.table
    const mask = this.mask
    let slot = slotOf(cid) & mask
    while (table[slot] !== 0) slot = (slot + 1) & mask
    table[slot] = ref
  }

  private grow(): void {
    this.table = new Int32Array(this.table.length * 2)
    this.mask = this.table.length - 1
    for (let i = 0; i < this.cids.length; i++) this.insert(this.cids[i]!, i + 1)
  }
}

/** Slot hash: two words of the digest (bytes 4..11 of a sha256 CIDv1), seeded and mixed. */
const slotOf = (cid: Uint8Array): number => {
  const n = cid.length
  if (n < 12) {
    let h = SEED_A
    for (let i = 0; i < n; i++) h = Math.imul(h ^ cid[i]!, 0x01000193)
    return h >>> 0
  }
  const a = ((cid[4]! << 24) | (cid[5]! << 16) | (cid[6]! << 8) | cid[7]!) ^ SEED_A
  const b = (cid[8]! << 24) | (cid[9]! << 16) | (cid[10]! << 8) | cid[11]!
  const h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b ^ (a >>> 15), SEED_B)
  return (h ^ (h >>> 16)) >>> 0
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  const n = a.length
  if (n !== b.length) return false
  // the digest differs first; the 4-byte prefix (version, codec, hash, length) is checked last
  for (let i = n - 1; i >= 0; i--) if (a[i] !== b[i]) return false
  return true
}

export interface ParsedCar {
  /** root CIDs as binary CIDv1 (36 bytes) */
  roots: Uint8Array[]
  blocks: BlockMap
}

export interface ReadCarOptions {
  /** check every block's bytes against its CID (default true) */
  verifyBlocks?: boolean
}

/**
 * Reads a CAR v1. Throws `CarParseError` for malformed or truncated input (including CIDs that
 * are not 36-byte sha256 CIDv1), and `VerificationError('cid-mismatch')` for a block whose
 * bytes do not hash to its CID.
 */
export const readCar = (bytes: Uint8Array, options: ReadCarOptions = {}): ParsedCar => {
  const verify = options.verifyBlocks ?? true
  const blocks = new BlockMap()
  let roots: Uint8Array[]
  let offset = 0
  try {
    const reader = readCarEntries(bytes)
    roots = reader.roots.map((root) => {
      if (!(root instanceof CidLinkWrapper)) throw new CarParseError('CAR root is not a CID link')
      return root.bytes
    })
    for (const entry of reader) {
      offset = entry.entryEnd
      if (verify && !cidMatchesBytes(entry.cid.bytes, entry.bytes)) {
        throw new VerificationError(
          'cid-mismatch',
          'block bytes do not match their CID',
          cidBytesToString(entry.cid.bytes),
        )
      }
      blocks.set(entry.cid.bytes, entry.bytes)
    }
  } catch (err) {
    if (err instanceof VerificationError || err instanceof CarParseError) throw err
    throw new CarParseError(`malformed CAR: ${(err as Error).message}`, offset, { cause: err })
  }
  return { roots, blocks }
}
