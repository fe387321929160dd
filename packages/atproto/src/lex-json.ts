/**
 * DAG-CBOR record bytes → lex JSON bytes in one pass, without building the decoded value, the lex
 * value or a JSON string: what `JSON.stringify(decodeLexRecord(bytes))` gives, as UTF-8.
 *
 * This is a fast path, not a second decoder with its own opinions: it handles the common shapes
 * (maps, arrays, text, integers, booleans, null, CID links) and returns false at the first thing
 * it is not sure about — bytes, floats, non-canonical or unusual encodings, invalid UTF-8, keys
 * that a JS object would reorder (array indices), `__proto__`, deep nesting, trailing bytes — so
 * that the caller takes the general path (`decodeLexRecord`, which also produces the errors). For
 * every input it accepts, its output is byte for byte that of the general path (tests compare).
 */
import { decodeLexRecord } from './lex.js'
import type { JsonSink } from './json-sink.js'

const MAX_DEPTH = 64
const HEX = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0))

let b: Uint8Array = new Uint8Array(0)
let p = 0
let end = 0
let out: JsonSink

/**
 * Writes the lex JSON of the DAG-CBOR record `bytes[from, to)` (a map) into `sink` and returns true, or
 * writes nothing and returns false when the fast path does not handle this input.
 */
export const writeRecordJsonFast = (sink: JsonSink, bytes: Uint8Array, from = 0, to = bytes.length): boolean => {
  const start = sink.length
  b = bytes
  p = from
  end = to
  out = sink
  let ok = false
  try {
    ok = end > from && b[from]! >> 5 === 5 && value(0) && p === end
  } finally {
    b = EMPTY
  }
  if (!ok) sink.length = start
  return ok
}
const EMPTY = new Uint8Array(0)

/**
 * The lex JSON of a DAG-CBOR record into `sink`: the fast path, else `decodeLexRecord` +
 * `JSON.stringify`. Throws `LexDecodeError` like `decodeLexRecord`.
 */
export const writeRecordJson = (sink: JsonSink, bytes: Uint8Array, from = 0, to = bytes.length): void => {
  if (writeRecordJsonFast(sink, bytes, from, to)) return
  sink.utf8(JSON.stringify(decodeLexRecord(from === 0 && to === bytes.length ? bytes : bytes.subarray(from, to))))
}

/** The CBOR argument after a prelude with `info`, canonical only; -1 when not handled. */
const arg = (info: number): number => {
  if (info < 24) return info
  if (info === 24) {
    if (p + 1 > end) return -1
    const v = b[p++]!
    return v < 24 ? -1 : v
  }
  if (info === 25) {
    if (p + 2 > end) return -1
    const v = (b[p]! << 8) | b[p + 1]!
    p += 2
    return v < 0x100 ? -1 : v
  }
  if (info === 26) {
    if (p + 4 > end) return -1
    const v = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0
    p += 4
    return v < 0x10000 ? -1 : v
  }
  if (info === 27) {
    if (p + 8 > end) return -1
    const hi = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0
    const lo = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0
    p += 8
    // beyond 2^53 - 2 the general path throws (or negation leaves the safe range): not ours
    if (hi > 0x1fffff || (hi === 0 && lo < 0x100000000)) return -1
    const v = hi * 0x100000000 + lo
    return v >= Number.MAX_SAFE_INTEGER ? -1 : v
  }
  return -1
}

const value = (depth: number): boolean => {
  if (p >= end) return false
  const prelude = b[p++]!
  const major = prelude >> 5
  const info = prelude & 31
  switch (major) {
    case 0: {
      const v = arg(info)
      if (v < 0) return false
      out.uint(v)
      return true
    }
    case 1: {
      const v = arg(info)
      if (v < 0) return false
      out.byte(0x2d) // '-'
      out.uint(v + 1)
      return true
    }
    case 3: {
      const n = arg(info)
      return n >= 0 && string(n)
    }
    case 4: {
      const n = arg(info)
      if (n < 0 || depth >= MAX_DEPTH || n > end - p) return false
      out.byte(0x5b) // '['
      for (let i = 0; i < n; i++) {
        if (i > 0) out.byte(0x2c)
        if (!value(depth + 1)) return false
      }
      out.byte(0x5d)
      return true
    }
    case 5: {
      const n = arg(info)
      if (n < 0 || depth >= MAX_DEPTH || n > end - p) return false
      out.byte(0x7b) // '{'
      let prevStart = 0
      let prevLen = -1
      for (let i = 0; i < n; i++) {
        if (i > 0) out.byte(0x2c)
        if (p >= end) return false
        const kp = b[p++]!
        if (kp >> 5 !== 3) return false
        const klen = arg(kp & 31)
        if (klen < 0 || klen > end - p) return false
        const kstart = p
        // canonical order (length first, then bytes), which also rules out duplicates
        if (klen < prevLen) return false
        if (klen === prevLen) {
          let cmp = 0
          for (let j = 0; j < klen && cmp === 0; j++) cmp = b[kstart + j]! - b[prevStart + j]!
          if (cmp <= 0) return false
        }
        if (!plainKey(kstart, klen)) return false
        prevStart = kstart
        prevLen = klen
        if (!string(klen)) return false
        out.byte(0x3a) // ':'
        if (!value(depth + 1)) return false
      }
      out.byte(0x7d)
      return true
    }
    case 6: {
      // tag 42 (d8 2a) around 37 bytes (58 25): 0x00 then a sha256 CIDv1, dag-cbor or raw
      if (info !== 24 || p + 40 > end || b[p] !== 42 || b[p + 1] !== 0x58 || b[p + 2] !== 37) return false
      const c = p + 3
      if (b[c] !== 0 || b[c + 1] !== 1 || (b[c + 2] !== 0x71 && b[c + 2] !== 0x55) || b[c + 3] !== 0x12 || b[c + 4] !== 32) return false
      p = c + 37
      out.ascii('{"$link":"')
      out.cidString(b, c + 1, c + 37)
      out.ascii('"}')
      return true
    }
    case 7: {
      if (info === 20) out.ascii('false')
      else if (info === 21) out.ascii('true')
      else if (info === 22) out.ascii('null')
      else return false
      return true
    }
    default:
      // 2 (bytes) and everything else: the general path
      return false
  }
}

/** False for keys a JS object would not keep in insertion order (array indices) and `__proto__`. */
const plainKey = (start: number, len: number): boolean => {
  if (len === 0) return true
  let digits = true
  for (let i = 0; i < len && digits; i++) {
    const c = b[start + i]!
    digits = c >= 0x30 && c <= 0x39
  }
  if (digits) return false
  if (len === 9 && b[start] === 0x5f && b[start + 1] === 0x5f && b[start + 2] === 0x70) return false // __p…
  return true
}

/**
 * `n` bytes of CBOR text at `p` as a JSON string literal: valid UTF-8 only (else false), escaped
 * as JSON.stringify does (`"`, `\`, and controls; nothing else, as valid UTF-8 has no lone
 * surrogates).
 */
const string = (n: number): boolean => {
  if (n > end - p) return false
  const stop = p + n
  out.reserve(n * 6 + 2)
  const o = out.buf
  let at = out.length
  o[at++] = 0x22
  let i = p
  while (i < stop) {
    const c = b[i]!
    if (c < 0x80) {
      i++
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
        o[at++] = c
        continue
      }
      o[at++] = 0x5c
      if (c === 0x22 || c === 0x5c) o[at++] = c
      else if (c === 0x0a)
        o[at++] = 0x6e // n
      else if (c === 0x0d)
        o[at++] = 0x72 // r
      else if (c === 0x09)
        o[at++] = 0x74 // t
      else if (c === 0x08)
        o[at++] = 0x62 // b
      else if (c === 0x0c)
        o[at++] = 0x66 // f
      else {
        o[at++] = 0x75 // u00XX
        o[at++] = 0x30
        o[at++] = 0x30
        o[at++] = HEX[c >> 4]!
        o[at++] = HEX[c & 15]!
      }
      continue
    }
    // multi-byte sequence: the WHATWG / Buffer.isUtf8 rules (no overlongs, surrogates or > U+10FFFF)
    let len: number
    let lo = 0x80
    let hi = 0xbf
    if (c >= 0xc2 && c <= 0xdf) len = 2
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3
      if (c === 0xe0) lo = 0xa0
      else if (c === 0xed) hi = 0x9f
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4
      if (c === 0xf0) lo = 0x90
      else if (c === 0xf4) hi = 0x8f
    } else return false
    if (i + len > stop) return false
    const c1 = b[i + 1]!
    if (c1 < lo || c1 > hi) return false
    if (len > 2 && (b[i + 2]! & 0xc0) !== 0x80) return false
    if (len > 3 && (b[i + 3]! & 0xc0) !== 0x80) return false
    for (let j = 0; j < len; j++) o[at++] = b[i + j]!
    i += len
  }
  o[at++] = 0x22
  out.length = at
  p = stop
  return true
}
