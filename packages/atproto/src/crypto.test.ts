import { describe, expect, it } from 'vitest'
import { verifyDidKeySignature } from './commit.js'
import { readInteropJson } from './test/helpers.js'

interface SigFixture {
  comment: string
  messageBase64: string
  algorithm: string
  publicKeyDid: string
  signatureBase64: string
  validSignature: boolean
  tags: string[]
}
const fixtures = readInteropJson<SigFixture[]>('crypto/signature-fixtures.json')

describe('signatures (interop crypto fixtures)', () => {
  it('covers both curves, high-S and DER cases', () => {
    expect(new Set(fixtures.map((f) => f.algorithm))).toEqual(new Set(['ES256', 'ES256K']))
    expect(fixtures.some((f) => f.tags.includes('high-s'))).toBe(true)
  })
  it.each(fixtures.map((f) => [f.comment, f] as const))('%s', async (_c, f) => {
    const ok = await verifyDidKeySignature(f.publicKeyDid, Buffer.from(f.messageBase64, 'base64'), Buffer.from(f.signatureBase64, 'base64'))
    expect(ok).toBe(f.validSignature)
  })
})
