import { describe, expect, it } from 'vitest'
import { checkDid, entryAgeMs, formatDuration, parseDuration } from './args.js'
import { parseDidFile, normalizeHost } from './commands/backfill.js'
import { checkCursorValue } from './commands/cursor.js'
import { UsageError } from './errors.js'
import { resolve } from './main.js'
import { renderTable } from './table.js'

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['1500', 1500],
    ['1.5s', 1500],
  ])('%s = %d ms', (s, ms) => expect(parseDuration('x', s)).toBe(ms))
  it.each(['', '5', 'abc', '5 m', '-1s', '1w', 'm5'].filter((s) => s !== '5'))('rejects "%s"', (s) => {
    expect(() => parseDuration('older-than', s)).toThrow(UsageError)
    expect(() => parseDuration('older-than', s)).toThrow(/--older-than must be a duration/)
  })
})

it('formatDuration', () => {
  expect([null, 950, 42_000, 192_000, 5 * 3600_000 + 120_000, 2 * 86_400_000 + 3 * 3600_000].map(formatDuration)).toEqual([
    '-',
    '950ms',
    '42s',
    '3m12s',
    '5h02m',
    '2d03h',
  ])
  expect(entryAgeMs('1000-0', 3000)).toBe(2000)
})

it('checkDid', () => {
  expect(checkDid(' did:plc:abc ')).toBe('did:plc:abc')
  expect(checkDid('did:web:example.com%3A8080')).toBe('did:web:example.com%3A8080')
  expect(() => checkDid('alice.bsky.social')).toThrow(/is not a DID/)
  expect(() => checkDid('did:PLC:x')).toThrow(UsageError)
})

describe('resolve', () => {
  it('finds the command words wherever global options are', () => {
    const r = resolve(['--redis-url', 'redis://h:1', 'dlq', '--json', 'replay', '1-0', '--yes'])
    expect(r.command?.name).toBe('dlq replay')
    expect(r.rest).toEqual(['--redis-url', 'redis://h:1', '--json', '1-0', '--yes'])
  })
  it('one-word commands keep their positionals', () => {
    const r = resolve(['pending', 'firehose_live', '--group', 'g'])
    expect(r.command?.name).toBe('pending')
    expect(r.rest).toEqual(['firehose_live', '--group', 'g'])
  })
  it('unknown words resolve to nothing', () => {
    expect(resolve(['dlq', 'explode']).command).toBeUndefined()
  })
})

describe('parseDidFile', () => {
  it('reads DIDs, "did host" and JSON lines, skipping comments', () => {
    expect(parseDidFile('# c\ndid:plc:a\n did:plc:b  pds.example \n\n{"did":"did:plc:c","rev":"r"}\n', 'f', 'https://d')).toEqual([
      { did: 'did:plc:a', host: 'https://d' },
      { did: 'did:plc:b', host: 'https://pds.example' },
      { did: 'did:plc:c', rev: 'r', host: 'https://d' },
    ])
  })
  it('names the file and line of a bad one', () => {
    expect(() => parseDidFile('did:plc:a\nnot-a-did\n', 'dids.txt', '')).toThrow('dids.txt:2: "not-a-did" is not a DID')
    expect(() => parseDidFile('{"did":', 'dids.txt', '')).toThrow('dids.txt:1: not valid JSON')
    expect(() => parseDidFile('did:plc:a b c', 'dids.txt', '')).toThrow(/expected "did" or "did host"/)
  })
})

it('normalizeHost', () => {
  expect(normalizeHost('host', 'pds.example.com')).toBe('https://pds.example.com')
  expect(normalizeHost('host', 'http://127.0.0.1:2583/')).toBe('http://127.0.0.1:2583')
  expect(() => normalizeHost('host', 'wss://x')).toThrow(/--host must use https/)
})

it('checkCursorValue', () => {
  expect(checkCursorValue('firehose_live', '123')).toBe('123')
  expect(checkCursorValue('repo_backfill', 'opaque-cursor')).toBe('opaque-cursor')
  expect(() => checkCursorValue('label_live', '-5')).toThrow(/sequence number/)
  expect(() => checkCursorValue('repo_backfill', ' ')).toThrow(/must not be empty/)
})

it('renderTable aligns columns and right-aligns numbers', () => {
  const out = renderTable(
    [
      { a: 'x', n: 5 },
      { a: 'longer', n: 1234 },
    ],
    [
      { header: 'name', value: (r) => r.a },
      { header: 'n', value: (r) => r.n },
    ],
  )
  expect(out).toBe('NAME       N\nx          5\nlonger  1234\n')
})
