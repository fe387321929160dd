import { describe, expect, it } from 'vitest'
import { ConfigError } from '@firehose/service'
import { loadConfig, toWsBase } from './config.js'

describe('config', () => {
  it('reads the defaults of docs/design.md', () => {
    const c = loadConfig({ INGESTER_RELAY_HOSTS: 'bsky.network' })
    expect(c).toMatchObject({
      relayHosts: ['wss://bsky.network'],
      labelerHosts: [],
      highWaterMark: 1_000_000,
      writeBatch: 500,
      batchTimeoutMs: 100,
      backfillRepos: false,
      firehoseStream: 'firehose_live',
      labelStream: 'label_live',
      repoStream: 'repo_backfill',
      metricsPort: 9090,
    })
  })

  it('accepts https, wss, http, ws and bare hosts', () => {
    expect(toWsBase('https://bsky.network/')).toBe('wss://bsky.network')
    expect(toWsBase('wss://relay.example.com')).toBe('wss://relay.example.com')
    expect(toWsBase('http://localhost:2583')).toBe('ws://localhost:2583')
    expect(toWsBase('ws://127.0.0.1:1234')).toBe('ws://127.0.0.1:1234')
    expect(toWsBase('mod.bsky.app')).toBe('wss://mod.bsky.app')
    expect(toWsBase('ftp://x')).toBeUndefined()
    const c = loadConfig({
      INGESTER_RELAY_HOSTS: 'a.example, https://a.example ,http://localhost:1',
      INGESTER_LABELER_HOSTS: 'did:plc:ar7c4by46qjdydhdevvrndac@mod.bsky.app',
    })
    expect(c.relayHosts).toEqual(['wss://a.example', 'ws://localhost:1'])
    expect(c.labelerHosts).toEqual(['wss://mod.bsky.app'])
  })

  it('labelers are <did>@<host>: the DID labels must come from; a bare host or a bad DID is refused', () => {
    const c = loadConfig({
      INGESTER_LABELER_HOSTS: 'did:plc:ar7c4by46qjdydhdevvrndac@mod.bsky.app, did:web:labeler.example@ws://127.0.0.1:1234',
    })
    expect(c.labelerHosts).toEqual(['wss://mod.bsky.app', 'ws://127.0.0.1:1234'])
    expect(c.labelerDids.get('wss://mod.bsky.app')).toBe('did:plc:ar7c4by46qjdydhdevvrndac')
    expect(c.labelerDids.get('ws://127.0.0.1:1234')).toBe('did:web:labeler.example')
    expect(c).toMatchObject({
      plcUrl: 'https://plc.directory',
      labelMaxFutureSkewMs: 300_000,
      maxLabelsPerFrame: 10_000,
      maxFrameBytes: 5 * 1024 * 1024,
    })
    for (const bad of [
      'mod.bsky.app',
      'did:plc:x y@mod.bsky.app',
      '@mod.bsky.app',
      'did:plc:abc@ftp://x',
      'did:plc:aaa@h.example,did:plc:bbb@h.example',
    ]) {
      expect(() => loadConfig({ INGESTER_LABELER_HOSTS: bad }), bad).toThrow(/INGESTER_LABELER_HOSTS/)
    }
    expect(() => loadConfig({ INGESTER_RELAY_HOSTS: 'a.example', INGESTER_MAX_FRAME_BYTES: '10' })).toThrow(/INGESTER_MAX_FRAME_BYTES/)
  })

  it('reads INGESTER_BATCH_SIZE as the old name of INGESTER_WRITE_BATCH; the new name wins', () => {
    const old = loadConfig({ INGESTER_RELAY_HOSTS: 'bsky.network', INGESTER_BATCH_SIZE: '7' })
    expect(old.writeBatch).toBe(7)
    expect(old.deprecatedVariables).toEqual([{ variable: 'INGESTER_BATCH_SIZE', use: 'INGESTER_WRITE_BATCH', ignored: false }])
    expect(loadConfig({ INGESTER_RELAY_HOSTS: 'bsky.network', INGESTER_BATCH_SIZE: '7', INGESTER_WRITE_BATCH: '9' }).writeBatch).toBe(9)
  })

  it('names every bad variable', () => {
    let err: unknown
    try {
      loadConfig({
        INGESTER_RELAY_HOSTS: 'ftp://nope',
        INGESTER_WRITE_BATCH: 'many',
        INGESTER_HIGH_WATER_MARK: '0',
        INGESTER_BACKFILL_REPOS: 'maybe',
      })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    const vars = (err as ConfigError).problems.map((p) => p.variable)
    expect(vars).toEqual(
      expect.arrayContaining(['INGESTER_RELAY_HOSTS', 'INGESTER_WRITE_BATCH', 'INGESTER_HIGH_WATER_MARK', 'INGESTER_BACKFILL_REPOS']),
    )
    expect(() => loadConfig({})).toThrow(/INGESTER_RELAY_HOSTS/)
  })

  it('INGESTER_VERIFY: full by default, one of full | signature | none', () => {
    expect(loadConfig({ INGESTER_RELAY_HOSTS: 'a.example' }).verify).toBe('full')
    expect(loadConfig({ INGESTER_RELAY_HOSTS: 'a.example', INGESTER_VERIFY: 'none' }).verify).toBe('none')
    expect(() => loadConfig({ INGESTER_RELAY_HOSTS: 'a.example', INGESTER_VERIFY: 'partial' })).toThrow(/INGESTER_VERIFY/)
    expect(() => loadConfig({ INGESTER_RELAY_HOSTS: 'a.example', PLC_URL: 'ftp://plc' })).toThrow(/PLC_URL/)
  })
})
