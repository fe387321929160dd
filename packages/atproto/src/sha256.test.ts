import { hash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sha256Into, sha256LeadingZeros, sha256Words, sha256WordsEqual } from './sha256.js'

const words = (): Buffer => {
  const out = Buffer.alloc(32)
  for (let i = 0; i < 8; i++) out.writeInt32BE(sha256Words[i]!, 4 * i)
  return out
}

describe('sha256 (plain JS)', () => {
  it('equals node:crypto for every length 0..300, around block edges, large inputs, and sub-ranges', () => {
    const lengths = [...Array.from({ length: 301 }, (_, i) => i), 511, 512, 1000, 2047, 2048, 2049, 5000, 100_000]
    for (const n of lengths) {
      const data = randomBytes(n + 10)
      sha256Into(data, 3, 3 + n)
      const want = hash('sha256', data.subarray(3, 3 + n), 'buffer')
      expect(words().equals(want), `length ${n}`).toBe(true)
      expect(sha256WordsEqual(want, 0)).toBe(true)
      want[31] = want[31]! ^ 1
      expect(sha256WordsEqual(want, 0)).toBe(false)
    }
    sha256Into(Buffer.from('abc'))
    expect(words().toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })

  it('counts leading zero bits', () => {
    for (let i = 0; i < 2000; i++) {
      const data = randomBytes(20)
      sha256Into(data)
      const d = hash('sha256', data, 'buffer')
      let zeros = 0
      for (const byte of d) {
        if (byte === 0) {
          zeros += 8
          continue
        }
        zeros += Math.clz32(byte) - 24
        break
      }
      expect(sha256LeadingZeros()).toBe(zeros)
    }
  })
})
