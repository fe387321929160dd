import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig, readCommon } from './config.js'

const read = (env: Record<string, string>) =>
  parseConfig(env, (r) => ({ n: r.int(r.renamed('NEW_NAME', 'OLD_NAME'), 5), common: readCommon(r) }))

describe('renamed variables', () => {
  it('read the new name, else the old one (noted as deprecated), else the default', () => {
    expect(read({}).n).toBe(5)
    expect(read({}).common.deprecatedVariables).toEqual([])
    expect(read({ NEW_NAME: '7' }).n).toBe(7)
    const old = read({ OLD_NAME: '8' })
    expect(old.n).toBe(8)
    expect(old.common.deprecatedVariables).toEqual([{ variable: 'OLD_NAME', use: 'NEW_NAME', ignored: false }])
  })
  it('the new name wins when both are set; the old one is noted as ignored', () => {
    const both = read({ NEW_NAME: '7', OLD_NAME: '8' })
    expect(both.n).toBe(7)
    expect(both.common.deprecatedVariables).toEqual([{ variable: 'OLD_NAME', use: 'NEW_NAME', ignored: true }])
  })
  it('a bad value is reported under the name it was set by', () => {
    expect(() => read({ OLD_NAME: 'x' })).toThrow(ConfigError)
    expect(() => read({ OLD_NAME: 'x' })).toThrow(/OLD_NAME: must be an integer/)
  })
})
