/**
 * A growable UTF-8 byte buffer for building JSON without JS strings: the backfiller writes a whole
 * repo's record JSON into one of these (off the V8 heap, one byte per character, nothing for the
 * GC to trace) and hands slices of it to Redis as Buffers.
 */

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'
const BASE32_CODES = Uint8Array.from(BASE32, (c) => c.charCodeAt(0))

export class JsonSink {
  /** the bytes written so far are `buf[0, length)`; `buf` is replaced when it grows */
  buf: Uint8Array
  length = 0

  constructor(initialBytes = 64 * 1024) {
    // not from Buffer's shared pool: the whole ArrayBuffer is ours (transferable, freed with us)
    this.buf = new Uint8Array(Math.max(16, initialBytes))
  }

  /** Make room for `n` more bytes. */
  reserve(n: number): void {
    const need = this.length + n
    if (need <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < need) size *= 2
    const bigger = new Uint8Array(size)
    bigger.set(this.buf.subarray(0, this.length))
    this.buf = bigger
  }

  byte(b: number): void {
    if (this.length === this.buf.length) this.reserve(1)
    this.buf[this.length++] = b
  }

  /** An ASCII string (every char < 0x80; not checked). */
  ascii(s: string): void {
    const n = s.length
    this.reserve(n)
    const buf = this.buf
    let at = this.length
    for (let i = 0; i < n; i++) buf[at++] = s.charCodeAt(i)
    this.length = at
  }

  /** Any string, as UTF-8. */
  utf8(s: string): void {
    const n = Buffer.byteLength(s, 'utf8')
    this.reserve(n)
    Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength).write(s, this.length, n, 'utf8')
    this.length += n
  }

  /** Raw bytes `src[start, end)`. */
  bytes(src: Uint8Array, start = 0, end = src.length): void {
    const n = end - start
    this.reserve(n)
    if (n > 64) this.buf.set(src.subarray(start, end), this.length)
    else {
      const buf = this.buf
      let at = this.length
      for (let i = start; i < end; i++) buf[at++] = src[i]!
    }
    this.length += n
  }

  /** A non-negative safe integer in decimal. */
  uint(n: number): void {
    if (n < 10) this.byte(0x30 + n)
    else this.ascii(String(n))
  }

  /** `b` + base32 (RFC 4648, lower case, no padding) of `src[start, end)`: a CIDv1's string form. */
  cidString(src: Uint8Array, start: number, end: number): void {
    const n = end - start
    this.reserve(1 + Math.ceil((n * 8) / 5))
    const buf = this.buf
    let at = this.length
    buf[at++] = 0x62 // 'b'
    let bits = 0
    let value = 0
    for (let i = start; i < end; i++) {
      value = ((value << 8) | src[i]!) & 0xffff
      bits += 8
      while (bits >= 5) {
        bits -= 5
        buf[at++] = BASE32_CODES[(value >>> bits) & 31]!
      }
    }
    if (bits > 0) buf[at++] = BASE32_CODES[(value << (5 - bits)) & 31]!
    this.length = at
  }

  /** A copy of the bytes written so far in an ArrayBuffer of their size. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.length)
  }
}
