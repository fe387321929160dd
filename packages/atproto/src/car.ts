/**
 * CAR v1 → block map. Blocks are offsets into the input (no copies, no view objects per block).
 * By default every block is checked against its CID (sha256; dag-cbor or raw codec).
 */
import { decode as decodeCbor } from '@atcute/cbor'
import { CidLinkWrapper } from '@atcute/cid'
import { BlockMap } from './block-map.js'
import { cidBytesToString, CODEC_DCBOR, CODEC_RAW } from './cid.js'
import { CarParseError, VerificationError } from './errors.js'
import { sha256Into, sha256WordsEqual } from './sha256.js'

export { BlockMap }

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
 * are not sha256 CIDv1 with the dag-cbor or raw codec), and `VerificationError('cid-mismatch')`
 * for a block whose bytes do not hash to its CID.
 */
export const readCar = (bytes: Uint8Array, options: ReadCarOptions = {}): ParsedCar => {
  const reader = new CarReader(bytes, options)
  reader.read(bytes.length)
  return reader.result()
}

/**
 * `readCar` in steps: `read(upTo)` reads the blocks that start before `upTo`, so that a caller can
 * let the event loop run between steps of a large CAR. Throws like `readCar`.
 */
export class CarReader {
  readonly roots: Uint8Array[]
  readonly blocks = new BlockMap()
  private pos: number
  private readonly verify: boolean

  constructor(
    private readonly bytes: Uint8Array,
    options: ReadCarOptions = {},
  ) {
    this.verify = options.verifyBlocks ?? true
    const end = bytes.length
    const headerLength = readVarint(bytes, 0)
    const headerStart = varintEnd
    if (headerLength === 0) throw new CarParseError('CAR header is empty', 0)
    const headerEnd = headerStart + headerLength
    if (headerEnd > end) throw new CarParseError('CAR header is truncated', headerStart)
    this.roots = readHeader(bytes.subarray(headerStart, headerEnd))
    this.pos = headerEnd
  }

  get done(): boolean {
    return this.pos >= this.bytes.length
  }

  /** Where the next block starts. */
  get position(): number {
    return this.pos
  }

  result(): ParsedCar {
    return { roots: this.roots, blocks: this.blocks }
  }

  read(upTo: number): void {
    this.pos = readBlocks(this.bytes, this.pos, Math.min(upTo, this.bytes.length), this.blocks, this.verify)
  }
}

/** The blocks from `from` (a block boundary after the header, checked by CarReader) up to `upTo`. */
const readBlocks = (bytes: Uint8Array, from: number, upTo: number, blocks: BlockMap, verify: boolean): number => {
  const end = bytes.length
  let pos = from
  while (pos < upTo) {
    const entryStart = pos
    const length = readVarint(bytes, pos)
    const cidStart = varintEnd
    const entryEnd = cidStart + length
    if (entryEnd > end) throw new CarParseError(`block at ${entryStart} is truncated`, entryStart)
    if (length < 36) throw new CarParseError(`block at ${entryStart} is too short for a CID`, entryStart)
    if (bytes[cidStart] !== 1 || bytes[cidStart + 2] !== 0x12 || bytes[cidStart + 3] !== 32) {
      throw new CarParseError(`block at ${entryStart} does not have a sha256 CIDv1`, entryStart)
    }
    const codec = bytes[cidStart + 1]
    if (codec !== CODEC_DCBOR && codec !== CODEC_RAW) {
      throw new CarParseError(`block at ${entryStart} has unsupported codec 0x${codec!.toString(16)}`, entryStart)
    }
    // (the prefix checks above are what cidMatchesBytes checks besides the digest)
    if (verify) {
      sha256Into(bytes, cidStart + 36, entryEnd)
      if (!sha256WordsEqual(bytes, cidStart + 4)) {
        throw new VerificationError(
          'cid-mismatch',
          'block bytes do not match their CID',
          cidBytesToString(bytes.subarray(cidStart, cidStart + 36)),
        )
      }
    }
    blocks.setAt(bytes, cidStart, 36, bytes, cidStart + 36, entryEnd)
    pos = entryEnd
  }
  return pos
}

const readHeader = (bytes: Uint8Array): Uint8Array[] => {
  let header: unknown
  try {
    header = decodeCbor(bytes)
  } catch (err) {
    throw new CarParseError(`CAR header is not DAG-CBOR: ${(err as Error).message}`, 0, { cause: err })
  }
  const { version, roots } = (header ?? {}) as { version?: unknown; roots?: unknown }
  if (version !== 1) throw new CarParseError(`not a CAR v1 (version ${String(version)})`, 0)
  if (!Array.isArray(roots)) throw new CarParseError('CAR header has no roots array', 0)
  return roots.map((root: unknown) => {
    if (!(root instanceof CidLinkWrapper)) throw new CarParseError('CAR root is not a CID link', 0)
    return root.bytes
  })
}

let varintEnd = 0
/** Unsigned LEB128 varint at `pos` → its value; the next position is left in `varintEnd`. At most 8 bytes (safe integers). */
const readVarint = (bytes: Uint8Array, pos: number): number => {
  let value = 0
  let factor = 1
  for (let i = 0; i < 8; i++) {
    if (pos >= bytes.length) throw new CarParseError('truncated varint', pos)
    const byte = bytes[pos++]!
    value += (byte & 0x7f) * factor
    if (byte < 0x80) {
      if (byte === 0 && i > 0) throw new CarParseError('non-minimal varint', pos - 1)
      varintEnd = pos
      return value
    }
    factor *= 128
  }
  throw new CarParseError('varint too long', pos)
}
