import { decode, encode } from '@atcute/cbor'
import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { cidBytesToString, cidForDagCbor } from './cid.js'
import { decodeLexRecord, LexDecodeError, toLex, toLexInPlace } from './lex.js'
import { ipldToJson, jsonToIpld, readInteropJson } from './test/helpers.js'

interface Fixture {
  json: Record<string, unknown>
  cbor_base64: string
  cid: string
}
const fixtures = readInteropJson<Fixture[]>('data-model/data-model-fixtures.json')
const valid = readInteropJson<Array<{ note: string; json: Record<string, unknown> }>>('data-model/data-model-valid.json')

describe('lex JSON (interop data-model fixtures)', () => {
  it.each(fixtures.map((f, i) => [i, f] as const))('fixture %i: CBOR → lex JSON, JSON → CBOR, CID', (_i, f) => {
    const bytes = Buffer.from(f.cbor_base64, 'base64')
    expect(decodeLexRecord(bytes)).toEqual(f.json)
    // encoding the lex JSON gives the fixture's canonical bytes and CID
    const encoded = encode(f.json)
    expect(Buffer.from(encoded).toString('base64').replace(/=+$/, '')).toBe(f.cbor_base64)
    expect(cidBytesToString(cidForDagCbor(encoded))).toBe(f.cid)
  })

  it.each(valid.map((v) => [v.note, v] as const))('valid: %s round-trips', (_note, v) => {
    const bytes = dagCbor.encode(jsonToIpld(v.json))
    expect(decodeLexRecord(bytes)).toEqual(ipldToJson(dagCbor.decode(bytes)))
  })

  it('accepts @ipld/dag-cbor values (CID, Uint8Array) like @atcute wrappers', () => {
    for (const f of fixtures) {
      const viaIpld = toLex(dagCbor.decode(Buffer.from(f.cbor_base64, 'base64')))
      expect(viaIpld).toEqual(f.json)
    }
  })

  it('toLex leaves its input untouched; toLexInPlace reuses it', () => {
    const decoded = decode(Buffer.from(fixtures[1]!.cbor_base64, 'base64')) as Record<string, unknown>
    const before = decoded.a
    toLex(decoded)
    expect(decoded.a).toBe(before)
    const out = toLexInPlace(decoded)
    expect(out).toBe(decoded)
    expect(decoded.a).toEqual(fixtures[1]!.json.a)
  })

  it('rejects non-map records and invalid CBOR', () => {
    expect(() => decodeLexRecord(encode([1, 2]))).toThrow(LexDecodeError)
    expect(() => decodeLexRecord(encode('blah'))).toThrow(LexDecodeError)
    expect(() => decodeLexRecord(new Uint8Array([0xa1, 0x61]))).toThrow(LexDecodeError)
    // non-canonical key order is not DAG-CBOR
    expect(() => decodeLexRecord(new Uint8Array([0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02]))).toThrow(LexDecodeError)
  })
})
