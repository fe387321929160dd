import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dlqStreamName, writeDeadLetter } from '@firehose/streams'
import { renderTable } from './table.js'
import { escapeControl } from './terminal-safe.js'
import { buildCli, newRedis, ops, uniqueName } from './test/cli.js'

/** What a hostile PDS can put in a DLQ error: clear screen, OSC 52 clipboard write, CR overwrite, C1 CSI, bidi override. */
const HOSTILE = 'getRepo failed: \u001b[2J\u001b]52;c;cm0gLXJmIH4=\u0007\rOK\u009b31m\u202egnp.exe'
// biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for the control characters
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

describe('escapeControl', () => {
  it('escapes C0, DEL, C1 and bidi controls, keeps newline, tab and printable text', () => {
    expect(escapeControl('a\u001b[31mb')).toBe('a\\u001b[31mb')
    expect(escapeControl('\r\u0000\u007f\u009b\u202e\u2066')).toBe('\\u000d\\u0000\\u007f\\u009b\\u202e\\u2066')
    expect(escapeControl('line 1\n\tline 2 é 日本 🦋')).toBe('line 1\n\tline 2 é 日本 🦋')
    // the escapes are valid inside JSON strings
    expect(JSON.parse(escapeControl(JSON.stringify({ e: HOSTILE })))).toEqual({ e: HOSTILE })
  })

  it('keeps table columns aligned around escaped cells', () => {
    const out = renderTable(
      [
        { a: 'x\u001by', b: 1 },
        { a: 'plain', b: 22 },
      ],
      [
        { header: 'a', value: (r) => r.a },
        { header: 'b', value: (r) => r.b },
      ],
    )
    expect(CONTROL.test(out)).toBe(false)
    const lines = out.trimEnd().split('\n')
    expect(new Set(lines.map((l) => l.length)).size).toBe(1)
  })
})

describe('ops output of remote text', () => {
  let redis: Redis
  const stream = uniqueName('repo_backfill')
  beforeAll(async () => {
    buildCli()
    redis = newRedis()
    await writeDeadLetter(
      redis,
      { repo: JSON.stringify({ did: 'did:plc:aaa', host: 'https://pds.\u001b[8mexample' }) },
      {
        error: HOSTILE,
        attempts: 3,
        consumer: 'backfiller-1',
        sourceStream: stream,
        sourceId: '1700000000000-0',
      },
    )
  })
  afterAll(async () => {
    await redis.del(stream, dlqStreamName(stream))
    await redis.quit()
  })

  it('dlq ls and dlq show (text and --json) print control characters escaped', async () => {
    const ls = await ops(['dlq', 'ls', '--stream', stream])
    expect(ls.code).toBe(0)
    expect(ls.stdout).toContain('\\u001b[2J')
    const ids = await redis.xrange(dlqStreamName(stream), '-', '+')
    const id = ids[0]?.[0] as string
    const show = await ops(['dlq', 'show', id, '--stream', stream])
    expect(show.stdout).toContain('getRepo failed: \\u001b[2J\\u001b]52;c;cm0gLXJmIH4=\\u0007\\u000dOK\\u009b31m\\u202egnp.exe')
    expect(show.stdout).toContain('pds.\\u001b[8mexample')
    const json = await ops(['dlq', 'show', id, '--stream', stream, '--json'])
    expect((JSON.parse(json.stdout) as { error: string }).error).toBe(HOSTILE)
    for (const r of [ls, show, json]) {
      expect(CONTROL.test(r.stdout)).toBe(false)
      expect(CONTROL.test(r.stderr)).toBe(false)
    }
  })
})
