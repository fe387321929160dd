/** Conformance with the atproto interop-tests syntax vectors (read in place from ../shared). */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { isValidDid, isValidNsid, isValidRecordKey, isValidTid } from './syntax.js'

const VECTORS = join(dirname(fileURLToPath(import.meta.url)), '../../../../shared/interop-tests/syntax')

/** One vector a line; `#` comments and empty lines skipped; nothing else trimmed (trailing spaces matter). */
const vectors = (file: string): string[] =>
  readFileSync(join(VECTORS, file), 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))

const CHECKS = [
  ['did', isValidDid],
  ['nsid', isValidNsid],
  ['recordkey', isValidRecordKey],
  ['tid', isValidTid],
] as const

describe.runIf(existsSync(VECTORS))('syntax: interop-tests vectors', () => {
  it.each(CHECKS)('%s', (name, check) => {
    const valid = vectors(`${name}_syntax_valid.txt`)
    const invalid = vectors(`${name}_syntax_invalid.txt`)
    expect(valid.length).toBeGreaterThan(3)
    expect(invalid.length).toBeGreaterThan(3)
    expect(valid.filter((v) => !check(v))).toEqual([])
    expect(invalid.filter((v) => check(v))).toEqual([])
  })
})

describe('syntax', () => {
  it('an rkey never holds a slash', () => {
    expect(isValidRecordKey('3k2a/b')).toBe(false)
    expect(isValidRecordKey('self')).toBe(true)
  })
})
