/**
 * CAR v1 → block map. Blocks are views into the input (no copies). By default every block is
 * checked against its CID (sha256; dag-cbor or raw codec).
 */
import { fromUint8Array as readCarEntries } from '@atcute/car'
import { CidLinkWrapper } from '@atcute/cid'
import { cidBytesToString, cidKey, cidMatchesBytes } from './cid.js'
import { CarParseError, VerificationError } from './errors.js'

/** Blocks of a CAR keyed by binary CID. */
export class BlockMap {
  private readonly map = new Map<string, Uint8Array>()
  /** a Buffer over the CAR's memory: CIDs that are views into it are keyed without allocating */
  private readonly backing: Buffer | undefined

  constructor(backing?: ArrayBufferLike) {
    this.backing = backing === undefined ? undefined : Buffer.from(backing)
  }

  private key(cid: Uint8Array): string {
    const backing = this.backing
    return backing !== undefined && cid.buffer === backing.buffer
      ? backing.toString('latin1', cid.byteOffset, cid.byteOffset + cid.byteLength)
      : cidKey(cid)
  }

  get size(): number {
    return this.map.size
  }
  /** Block bytes for a binary CID, or undefined. */
  get(cid: Uint8Array): Uint8Array | undefined {
    return this.map.get(this.key(cid))
  }
  has(cid: Uint8Array): boolean {
    return this.map.has(this.key(cid))
  }
  set(cid: Uint8Array, bytes: Uint8Array): void {
    this.map.set(this.key(cid), bytes)
  }
  /** Iterates `[cid string, bytes]` (formats each CID: not for hot paths). */
  *entries(): IterableIterator<[string, Uint8Array]> {
    for (const [key, bytes] of this.map) {
      yield [cidBytesToString(Buffer.from(key, 'latin1')), bytes]
    }
  }
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
  const blocks = new BlockMap(bytes.buffer)
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
