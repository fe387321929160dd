import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { isEntryPoint } from './entry.js'

describe('isEntryPoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'entry-'))
  const main = join(dir, 'main.js')
  writeFileSync(main, '')
  symlinkSync(main, join(dir, 'bin-link'))

  it('matches the module node was started with, also through a symlink', () => {
    expect(isEntryPoint(pathToFileURL(main).href, main)).toBe(true)
    expect(isEntryPoint(pathToFileURL(main).href, join(dir, 'bin-link'))).toBe(true)
  })
  it('is false for another script, a missing one, or none', () => {
    expect(isEntryPoint(pathToFileURL(main).href, join(dir, 'other.js'))).toBe(false)
    expect(isEntryPoint(pathToFileURL(main).href, undefined)).toBe(false)
    expect(isEntryPoint(import.meta.url, main)).toBe(false)
  })
})
