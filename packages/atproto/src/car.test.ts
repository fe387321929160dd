import { CarWriter } from '@ipld/car/writer'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { BlockMap, readCar } from './car.js'
import { encodeCar } from './car-write.js'
import { cidBytesToString } from './cid.js'
import { CarParseError, VerificationError } from './errors.js'

const ipldCar = async (roots: CID[], blocks: Array<{ cid: CID; bytes: Uint8Array }>) => {
  const { writer, out } = CarWriter.create(roots as never)
  const chunks: Uint8Array[] = []
  const done = (async () => {
    for await (const c of out) chunks.push(c)
  })()
  for (const b of blocks) await writer.put(b as never)
  await writer.close()
  await done
  return new Uint8Array(Buffer.concat(chunks))
}

describe('readCar', () => {
  it('reads a CAR written by @ipld/car: roots, dag-cbor and raw blocks, as views into the input', async () => {
    const a = dagCbor.encode({ hello: 'world' })
    const b = new Uint8Array([1, 2, 3])
    const aCid = CID.createV1(dagCbor.code, await sha256.digest(a))
    const bCid = CID.createV1(raw.code, await sha256.digest(b))
    const bytes = await ipldCar(
      [aCid],
      [
        { cid: aCid, bytes: a },
        { cid: bCid, bytes: b },
      ],
    )
    const car = readCar(bytes)
    expect(car.roots.map(cidBytesToString)).toEqual([aCid.toString()])
    expect(car.blocks.size).toBe(2)
    const got = car.blocks.get(bCid.bytes)!
    expect([...got]).toEqual([1, 2, 3])
    expect(got.buffer).toBe(bytes.buffer) // no copy
    expect([...car.blocks.entries()].map(([cid]) => cid).sort()).toEqual([aCid.toString(), bCid.toString()].sort())
    // our writer produces the same bytes
    expect(
      Buffer.from(
        encodeCar(
          [aCid.bytes],
          [
            { cid: aCid.bytes, bytes: a },
            { cid: bCid.bytes, bytes: b },
          ],
        ),
      ).equals(Buffer.from(bytes)),
    ).toBe(true)
  })

  it('checks blocks against CIDs unless told not to', async () => {
    const a = dagCbor.encode({ hello: 'world' })
    const aCid = CID.createV1(dagCbor.code, await sha256.digest(a))
    const bad = encodeCar([aCid.bytes], [{ cid: aCid.bytes, bytes: dagCbor.encode({ hello: 'there' }) }])
    expect(() => readCar(bad)).toThrow(VerificationError)
    expect(readCar(bad, { verifyBlocks: false }).blocks.size).toBe(1)
  })

  it('malformed and truncated input is a CarParseError', async () => {
    const a = dagCbor.encode({ hello: 'world' })
    const aCid = CID.createV1(dagCbor.code, await sha256.digest(a))
    const good = encodeCar([aCid.bytes], [{ cid: aCid.bytes, bytes: a }])
    for (let cut = 0; cut < good.length; cut++) {
      // every strict prefix either fails to parse or (cut on a block boundary) has fewer blocks
      try {
        const car = readCar(good.subarray(0, cut))
        expect(car.blocks.size).toBe(0)
      } catch (err) {
        expect(err).toBeInstanceOf(CarParseError)
      }
    }
    expect(() => readCar(dagCbor.encode({ version: 2, roots: [] }))).toThrow(CarParseError)
    // a CAR v2 pragma, a non-CID root, a dag-pb block, a CIDv0 block, an over-long varint
    const header = (value: unknown) => {
      const h = dagCbor.encode(value)
      return new Uint8Array([h.length, ...h])
    }
    expect(() => readCar(header({ version: 2 }))).toThrow(CarParseError)
    expect(() => readCar(header({ version: 1, roots: ['x'] }))).toThrow(CarParseError)
    const dagPb = new Uint8Array(good)
    dagPb[good.length - a.length - 35] = 0x70
    expect(() => readCar(dagPb)).toThrow(/codec/)
    const v0 = new Uint8Array([...header({ version: 1, roots: [] }), 34, 0x12, 0x20, ...new Uint8Array(32)])
    expect(() => readCar(v0)).toThrow(CarParseError)
    expect(() => readCar(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).toThrow(CarParseError)
    expect(() => readCar(new Uint8Array([0x81, 0x00]))).toThrow(/non-minimal/)
    expect(() => readCar(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(CarParseError)
  })
})

describe('BlockMap', () => {
  const cidWith = (i: number, sharedSlotBytes: boolean) => {
    const cid = new Uint8Array(36)
    cid.set([1, 0x71, 0x12, 32])
    if (!sharedSlotBytes) new DataView(cid.buffer).setUint32(4, i * 2654435761)
    new DataView(cid.buffer).setUint32(32, i)
    return cid
  }
  it.each([false, true])('stores and finds thousands of blocks (all in one probe chain: %s)', (shared) => {
    const map = new BlockMap()
    const n = shared ? 3000 : 50_000
    for (let i = 0; i < n; i++) map.set(cidWith(i, shared), new Uint8Array([i & 255]))
    expect(map.size).toBe(n)
    for (let i = 0; i < n; i += 7) expect(map.get(cidWith(i, shared))?.[0]).toBe(i & 255)
    expect(map.has(cidWith(n + 1, shared))).toBe(false)
    // same CID again replaces, does not grow
    map.set(cidWith(5, shared), new Uint8Array([99]))
    expect(map.size).toBe(n)
    expect(map.get(cidWith(5, shared))?.[0]).toBe(99)
  })
  it('keys of other lengths', () => {
    const map = new BlockMap()
    map.set(new Uint8Array([1, 2, 3]), new Uint8Array([7]))
    expect(map.get(new Uint8Array([1, 2, 3]))?.[0]).toBe(7)
    expect(map.get(new Uint8Array([1, 2]))).toBeUndefined()
  })
})
