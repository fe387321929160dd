/**
 * SHA-256 (FIPS 180-4) in plain JS for the small inputs of repo verification: MST keys (~30
 * bytes) and record / node blocks (~100–300 bytes). For those, node:crypto's one-shot `hash()`
 * costs ~3 µs a call in its JS-to-native overhead, several times the hashing itself; this does
 * them without a call into C++ or any allocation. Large inputs use node:crypto.
 *
 * The result is left in `sha256Words` (eight big-endian words, as signed int32) until the next call.
 */
import { hash } from 'node:crypto'

const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
  0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
  0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
  0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
  0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
  0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
])
const IV = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])

/** The digest of the last `sha256Into` call, as eight big-endian words. */
export const sha256Words = new Int32Array(8)
const W = new Int32Array(64)
const H = sha256Words

/** Above this, node:crypto is faster (its per-call overhead no longer dominates). */
const JS_MAX = 2048

/** SHA-256 of `data[start, end)` into `sha256Words`. */
export const sha256Into = (data: Uint8Array, start = 0, end = data.length): void => {
  const n = end - start
  if (n > JS_MAX) {
    const d = hash('sha256', start === 0 && end === data.length ? data : data.subarray(start, end), 'buffer')
    for (let i = 0; i < 8; i++) H[i] = (d[4 * i]! << 24) | (d[4 * i + 1]! << 16) | (d[4 * i + 2]! << 8) | d[4 * i + 3]!
    return
  }
  H.set(IV)
  // whole 64-byte blocks straight from the input
  let pos = start
  const whole = start + (n & ~63)
  while (pos < whole) {
    for (let i = 0; i < 16; i++, pos += 4) W[i] = (data[pos]! << 24) | (data[pos + 1]! << 16) | (data[pos + 2]! << 8) | data[pos + 3]!
    compress()
  }
  // the tail, 0x80, zeros, and the bit length: one or two more blocks
  const rest = end - pos
  W.fill(0, 0, 16)
  for (let i = 0; i < rest; i++) W[i >> 2]! |= data[pos + i]! << (24 - 8 * (i & 3))
  W[rest >> 2]! |= 0x80 << (24 - 8 * (rest & 3))
  if (rest >= 56) {
    compress()
    W.fill(0, 0, 16)
  }
  // n < 2^29 here, so the high word of the bit length is 0
  W[15] = n << 3
  compress()
}

const compress = (): void => {
  const w = W
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15]!
    const b = w[i - 2]!
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3)
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10)
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0
  }
  let a = H[0]!
  let b = H[1]!
  let c = H[2]!
  let d = H[3]!
  let e = H[4]!
  let f = H[5]!
  let g = H[6]!
  let h = H[7]!
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const ch = (e & f) ^ (~e & g)
    const t1 = (h + S1 + ch + K[i]! + w[i]!) | 0
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const maj = (a & b) ^ (a & c) ^ (b & c)
    const t2 = (S0 + maj) | 0
    h = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b
    b = a
    a = (t1 + t2) | 0
  }
  H[0] = (H[0]! + a) | 0
  H[1] = (H[1]! + b) | 0
  H[2] = (H[2]! + c) | 0
  H[3] = (H[3]! + d) | 0
  H[4] = (H[4]! + e) | 0
  H[5] = (H[5]! + f) | 0
  H[6] = (H[6]! + g) | 0
  H[7] = (H[7]! + h) | 0
}

/** True when the digest in `sha256Words` equals the 32 bytes at `digest[at, at + 32)`. */
export const sha256WordsEqual = (digest: Uint8Array, at: number): boolean => {
  for (let i = 0; i < 8; i++, at += 4) {
    if (H[i] !== ((digest[at]! << 24) | (digest[at + 1]! << 16) | (digest[at + 2]! << 8) | digest[at + 3]!)) return false
  }
  return true
}

/** Leading zero bits of the digest in `sha256Words`. */
export const sha256LeadingZeros = (): number => {
  for (let i = 0; i < 8; i++) {
    const word = H[i]!
    if (word !== 0) return 32 * i + Math.clz32(word)
  }
  return 256
}
