import { sha256Into, sha256LeadingZeros } from '../sha256.js'

/** Layer of a key: leading zero bits of sha256(key), counted in pairs (fanout 4). */
export const keyHeight = (key: string | Uint8Array): number => {
  sha256Into(typeof key === 'string' ? Buffer.from(key, 'utf8') : key)
  return sha256LeadingZeros() >> 1
}

/** Number of leading bytes shared by two keys (compared as UTF-8 bytes). */
export const commonPrefixLength = (a: string | Uint8Array, b: string | Uint8Array): number => {
  const x = typeof a === 'string' ? Buffer.from(a, 'utf8') : a
  const y = typeof b === 'string' ? Buffer.from(b, 'utf8') : b
  const n = Math.min(x.length, y.length)
  let i = 0
  while (i < n && x[i] === y[i]) i++
  return i
}

const SLASH = 0x2f
/** Repo path bytes: `<collection>/<rkey>`, one slash, both sides non-empty, [A-Za-z0-9._:~-]. */
export const isValidPathBytes = (key: Uint8Array, length = key.length): boolean => {
  let slash = -1
  for (let i = 0; i < length; i++) {
    const c = key[i]!
    if (c === SLASH) {
      if (slash !== -1) return false
      slash = i
      continue
    }
    const ok =
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x2e ||
      c === 0x2d ||
      c === 0x5f ||
      c === 0x3a ||
      c === 0x7e
    if (!ok) return false
  }
  return slash > 0 && slash < length - 1
}
