/** Minimal synchronous CAR v1 writer (tests, benches, frame building). */
import { encode as encodeCbor } from '@atcute/cbor'
import { CidLinkWrapper } from '@atcute/cid'

export interface CarBlockInput {
  /** binary CIDv1 */
  cid: Uint8Array
  bytes: Uint8Array
}

const varintLength = (n: number): number => {
  let len = 1
  while (n >= 0x80) {
    n = Math.floor(n / 128)
    len++
  }
  return len
}

const writeVarint = (out: Uint8Array, pos: number, n: number): number => {
  while (n >= 0x80) {
    out[pos++] = (n % 128) | 0x80
    n = Math.floor(n / 128)
  }
  out[pos++] = n
  return pos
}

/** Encodes a CAR v1 with the given roots and blocks, in order. */
export const encodeCar = (roots: Uint8Array[], blocks: Iterable<CarBlockInput>): Uint8Array => {
  const header = encodeCbor({ version: 1, roots: roots.map((r) => new CidLinkWrapper(r)) })
  const list = [...blocks]
  let size = varintLength(header.length) + header.length
  for (const b of list) {
    const len = b.cid.length + b.bytes.length
    size += varintLength(len) + len
  }
  const out = new Uint8Array(size)
  let pos = writeVarint(out, 0, header.length)
  out.set(header, pos)
  pos += header.length
  for (const b of list) {
    pos = writeVarint(out, pos, b.cid.length + b.bytes.length)
    out.set(b.cid, pos)
    pos += b.cid.length
    out.set(b.bytes, pos)
    pos += b.bytes.length
  }
  return out
}
