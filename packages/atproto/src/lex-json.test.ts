/**
 * The one-pass DAG-CBOR → lex JSON writer against the general path
 * (`JSON.stringify(decodeLexRecord(bytes))`): byte-identical output whenever it accepts an input,
 * and it never accepts one the general path rejects.
 */
import { BytesWrapper, encode } from '@atcute/cbor'
import { CidLinkWrapper } from '@atcute/cid'
import { describe, expect, it } from 'vitest'
import { cidForDagCbor } from './cid.js'
import { JsonSink } from './json-sink.js'
import { writeRecordJson, writeRecordJsonFast } from './lex-json.js'
import { decodeLexRecord } from './lex.js'
import { generateRecords } from './testing.js'
import { readInteropJson } from './test/helpers.js'

const general = (bytes: Uint8Array): string | Error => {
  try {
    return JSON.stringify(decodeLexRecord(bytes))
  } catch (err) {
    return err as Error
  }
}

/** Fast path result, or null when it declined. Also checks it wrote nothing when declining. */
const fast = (bytes: Uint8Array): string | null => {
  const sink = new JsonSink(16)
  sink.ascii('xy')
  const ok = writeRecordJsonFast(sink, bytes)
  if (!ok) {
    expect(sink.length).toBe(2)
    return null
  }
  return Buffer.from(sink.buf.subarray(2, sink.length)).toString('utf8')
}

const agree = (bytes: Uint8Array): 'fast' | 'general' | 'rejected' => {
  const want = general(bytes)
  const got = fast(bytes)
  if (got !== null) {
    expect(want).not.toBeInstanceOf(Error)
    expect(got).toBe(want)
    // and the bytes are the UTF-8 of that string exactly
    return 'fast'
  }
  const sink = new JsonSink()
  let thrown: unknown = null
  try {
    writeRecordJson(sink, bytes)
  } catch (err) {
    thrown = err
  }
  if (want instanceof Error) {
    expect(thrown).toBeInstanceOf(Error)
    expect((thrown as Error).message).toBe(want.message)
    return 'rejected'
  }
  expect(thrown).toBeNull()
  expect(Buffer.from(sink.buf.subarray(0, sink.length)).toString('utf8')).toBe(want)
  return 'general'
}

// deterministic pseudo-random values
let seed = 12345
const rnd = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
  return seed % n
}
const CHARS = [
  'a',
  'Z',
  '0',
  '9',
  ' ',
  '"',
  '\\',
  '\n',
  '\r',
  '\t',
  '\b',
  '\f',
  '\u0001',
  '\u001f',
  '\u007f',
  'é',
  '€',
  '🦋',
  '\u2028',
  '\ufffd',
  '/',
  '$',
  '_',
]
const randString = (max: number): string => {
  let s = ''
  const n = rnd(max)
  for (let i = 0; i < n; i++) s += CHARS[rnd(CHARS.length)]
  return s
}
const cid = cidForDagCbor(new Uint8Array([1, 2, 3]))
const randValue = (depth: number): unknown => {
  switch (rnd(depth > 3 ? 6 : 9)) {
    case 0:
      return rnd(2) === 0 ? rnd(30) : rnd(2) === 0 ? rnd(1 << 30) * 4096 + rnd(4096) : -1 - rnd(70000)
    case 1:
      return randString(12)
    case 2:
      return rnd(2) === 0
    case 3:
      return null
    case 4:
      return new CidLinkWrapper(cid)
    case 5:
      return rnd(4) === 0 ? new BytesWrapper(new Uint8Array([rnd(256), rnd(256)])) : randString(40)
    case 6:
      return Array.from({ length: rnd(4) }, () => randValue(depth + 1))
    default:
      return randMap(depth + 1)
  }
}
const KEYS = ['a', 'text', '$type', 'createdAt', 'b\u00e9', '0', '12', '1a', '', '__proto__', 'x"y', 'k\n']
const randMap = (depth: number): Record<string, unknown> => {
  const o: Record<string, unknown> = {}
  const n = rnd(5)
  for (let i = 0; i < n; i++) {
    const k = KEYS[rnd(KEYS.length)]!
    if (k === '__proto__') Object.defineProperty(o, k, { value: randValue(depth), enumerable: true, writable: true, configurable: true })
    else o[k] = randValue(depth)
  }
  return o
}

describe('writeRecordJson (one-pass lex JSON)', () => {
  it('generated repo records go through the fast path and match', () => {
    for (const r of generateRecords(400)) expect(agree(encode(r.record))).toBe('fast')
  })

  it('interop data-model fixtures: identical output or both reject', () => {
    const fixtures = readInteropJson<Array<{ cbor_base64: string }>>('data-model/data-model-fixtures.json')
    for (const f of fixtures) agree(Buffer.from(f.cbor_base64, 'base64'))
  })

  it('random values (escapes, UTF-8, index keys, __proto__, bytes, big and negative ints)', () => {
    const seen = { fast: 0, general: 0, rejected: 0 }
    for (let i = 0; i < 3000; i++) seen[agree(encode(randMap(0)))]++
    expect(seen.fast).toBeGreaterThan(500)
    expect(seen.general).toBeGreaterThan(100)
  })

  it('corrupted bytes: never accepted where the general path rejects', () => {
    const seen = { fast: 0, general: 0, rejected: 0 }
    for (let i = 0; i < 3000; i++) {
      const bytes = Uint8Array.from(encode(randMap(0)))
      if (bytes.length < 2) continue
      const k = 1 + rnd(3)
      for (let j = 0; j < k; j++) bytes[rnd(bytes.length)] = rnd(256)
      seen[agree(rnd(5) === 0 ? bytes.subarray(0, rnd(bytes.length)) : bytes)]++
    }
    expect(seen.rejected).toBeGreaterThan(500)
  })

  it('hand-made edge cases', () => {
    const cases: number[][] = [
      [0xa0], // {}
      [0xa1, 0x61, 0x61, 0x18, 0x05], // non-canonical uint
      [0xa1, 0x61, 0x61, 0x1b, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // 2^53 - 1
      [0xa1, 0x61, 0x61, 0x3b, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // -(2^53)
      [0xa1, 0x61, 0x61, 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0], // 1.5
      [0xa1, 0x61, 0x61, 0xf7], // undefined
      [0xa1, 0x61, 0x61, 0x62, 0xed, 0xa0], // truncated surrogate
      [0xa1, 0x61, 0x61, 0x63, 0xed, 0xa0, 0x80], // encoded surrogate
      [0xa1, 0x61, 0x61, 0x62, 0xc0, 0x80], // overlong
      [0xa1, 0x61, 0x61, 0x64, 0xf4, 0x90, 0x80, 0x80], // > U+10FFFF
      [0xa1, 0x61, 0x61, 0x64, 0xf0, 0x9f, 0xa6, 0x8b], // 🦋
      [0xa1, 0x61, 0x61, 0x01, 0x00], // trailing byte
      [0x81, 0x01], // not a map
      [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02], // duplicate key
    ]
    for (const c of cases) agree(new Uint8Array(c))
    // deep nesting goes to the general path
    let deep: unknown = 1
    for (let i = 0; i < 100; i++) deep = [deep]
    expect(agree(encode({ a: deep }))).toBe('general')
  })
})
