import { describe, expect, it } from 'vitest'
import { ConfigError } from '@firehose/service'
import { loadConfig, toWsBase } from './config.js'

describe('config', () => {
  it('reads the defaults of DESIGN.md', () => {
    const c = loadConfig({ INGESTER_RELAY_HOSTS: 'bsky.network' })
    expect(c).toMatchObject({
      relayHosts: ['wss://bsky.network'],
      labelerHosts: [],
      highWaterMark: 1_000_000,
      batchSize: 500,
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
    const c = loadConfig({ INGESTER_RELAY_HOSTS: 'a.example, https://a.example ,http://localhost:1', INGESTER_LABELER_HOSTS: 'mod.bsky.app' })
    expect(c.relayHosts).toEqual(['wss://a.example', 'ws://localhost:1'])
    expect(c.labelerHosts).toEqual(['wss://mod.bsky.app'])
  })

  it('names every bad variable', () => {
    let err: unknown
    try {
      loadConfig({ INGESTER_RELAY_HOSTS: 'ftp://nope', INGESTER_BATCH_SIZE: 'many', INGESTER_HIGH_WATER_MARK: '0', INGESTER_BACKFILL_REPOS: 'maybe' })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    const vars = (err as ConfigError).problems.map((p) => p.variable)
    expect(vars).toEqual(expect.arrayContaining(['INGESTER_RELAY_HOSTS', 'INGESTER_BATCH_SIZE', 'INGESTER_HIGH_WATER_MARK', 'INGESTER_BACKFILL_REPOS']))
    expect(() => loadConfig({})).toThrow(/INGESTER_RELAY_HOSTS/)
  })
})
