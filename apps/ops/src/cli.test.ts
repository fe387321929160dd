import { describe, expect, it } from 'vitest'
import { cursorKey } from '@firehose/streams'
import { ops, opsJson } from './test/cli.js'
import { cliTestSetup } from './test/cli-setup.js'

// (dlq: cli-dlq.test.ts; backfill enqueue: cli-backfill.test.ts)
const { redis, name } = cliTestSetup()

describe('cursor', () => {
  it('set then get round-trips, set needs --yes', async () => {
    const s = name('firehose_live')
    const host = 'wss://relay.example.com'
    expect((await opsJson<{ value: string | null }>(['cursor', 'get', s, host])).value).toBeNull()
    const dry = await ops(['cursor', 'set', s, host, '12345'])
    expect(dry.code).toBe(0)
    expect(await redis.get(cursorKey(s, host))).toBeNull()
    const set = await ops(['cursor', 'set', s, host, '12345', '--yes'])
    expect(set.code).toBe(0)
    expect(set.stdout).toContain(`${s}:cursor:relay.example.com: (not set) -> 12345`)
    expect(await redis.get(`${s}:cursor:relay.example.com`)).toBe('12345')
    // The host is normalized the way the ingester names its key.
    expect(await opsJson(['cursor', 'get', s, 'relay.example.com/'])).toEqual({ key: `${s}:cursor:relay.example.com`, value: '12345' })
    const get = await ops(['cursor', 'get', s, host])
    expect(get.stdout).toBe(`${s}:cursor:relay.example.com: 12345\n`)
    const ls = await opsJson<{ host: string; value: string }[]>(['cursor', 'ls', s])
    expect(ls).toEqual([{ stream: s, host: 'relay.example.com', key: `${s}:cursor:relay.example.com`, value: '12345' }])
  })
})

describe('groups, pending, consumers prune', () => {
  async function setup() {
    const s = name('firehose_live')
    for (let i = 0; i < 6; i++) await redis.xadd(s, '*', 'event', `{"n":${i}}`)
    await redis.xgroup('CREATE', s, 'g', '0')
    await redis.xreadgroup('GROUP', 'g', 'dead-1', 'COUNT', 3, 'STREAMS', s, '>')
    return s
  }

  it('shows lag and pending per consumer, and pending entries older than a duration', async () => {
    const s = await setup()
    await redis.xreadgroup('GROUP', 'g', 'live-1', 'COUNT', 1, 'STREAMS', s, '>')
    const groups = await opsJson<{ group: string; lag: number; pending: number; consumers: { name: string; pending: number }[] }[]>([
      'groups',
      'ls',
      s,
    ])
    expect(groups).toHaveLength(1)
    expect(groups[0]).toMatchObject({ group: 'g', lag: 2, pending: 4 })
    expect(groups[0]!.consumers.map((c) => [c.name, c.pending]).sort()).toEqual([
      ['dead-1', 3],
      ['live-1', 1],
    ])
    const table = await ops(['groups', 'ls', s])
    expect(table.stdout).toMatch(/STREAM\s+GROUP\s+LAG\s+PENDING/)
    expect(table.stdout).toMatch(/CONSUMER\s+PENDING\s+IDLE/)

    const all = await opsJson<{ consumer: string }[]>(['pending', s, '--group', 'g'])
    expect(all).toHaveLength(4)
    expect(await opsJson(['pending', s, '--group', 'g', '--older-than', '1h'])).toEqual([])
    expect(await opsJson<unknown[]>(['pending', s, '--group', 'g', '--consumer', 'live-1'])).toHaveLength(1)
    const nogroup = await ops(['pending', s, '--group', 'nope'])
    expect(nogroup.code).toBe(1)
    expect(nogroup.stderr).toContain(`stream "${s}" has no consumer group "nope"`)
  })

  it("claims a dead consumer's pending entries to a live one before removing it", async () => {
    const s = await setup()
    await new Promise((r) => setTimeout(r, 6000))
    // live-1 reads just before each prune, and reads its own history (no new entry) every 200 ms
    // while the CLI runs, so it is never idle for --idle 4s however slowly the CLI starts.
    const touch = () => redis.xreadgroup('GROUP', 'g', 'live-1', 'COUNT', 1, 'STREAMS', s, '>')
    await touch()
    const keepAlive = setInterval(
      () => void redis.xreadgroup('GROUP', 'g', 'live-1', 'COUNT', 1, 'STREAMS', s, '0').catch(() => undefined),
      200,
    )
    try {
      const dry = await opsJson<{ dryRun: boolean; consumers: { consumer: string; claimedTo: string }[] }>([
        'consumers',
        'prune',
        s,
        '--group',
        'g',
        '--idle',
        '4s',
      ])
      expect(dry.dryRun).toBe(true)
      expect(dry.consumers).toMatchObject([{ consumer: 'dead-1', pending: 3, claimedTo: 'live-1' }])
      expect((await redis.xinfo('CONSUMERS', s, 'g')) as unknown[]).toHaveLength(2)

      await touch()
      const r = await opsJson<{ consumers: { consumer: string; claimed: number; removed: boolean }[] }>([
        'consumers',
        'prune',
        s,
        '--group',
        'g',
        '--idle',
        '4s',
        '--yes',
      ])
      expect(r.consumers).toMatchObject([{ consumer: 'dead-1', claimed: 3, removed: true }])
    } finally {
      clearInterval(keepAlive)
    }
    const pending = (await redis.xpending(s, 'g')) as [number, string, string, [string, string][]]
    expect(pending[0]).toBe(5) // nothing lost from the group's pending list
    expect(pending[3]).toEqual([['live-1', '5']])
  })

  it('refuses to drop pending entries when no live consumer remains, unless --to or --force', async () => {
    const s = await setup()
    await new Promise((r) => setTimeout(r, 1200))
    const refused = await ops(['consumers', 'prune', s, '--group', 'g', '--idle', '1s', '--yes'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('dead-1 has 3 pending')
    expect(refused.stderr).toContain('--to')
    expect((await redis.xinfo('CONSUMERS', s, 'g')) as unknown[]).toHaveLength(1)

    const to = await opsJson<{ consumers: { claimedTo: string }[] }>([
      'consumers',
      'prune',
      s,
      '--group',
      'g',
      '--idle',
      '1s',
      '--to',
      'new-1',
      '--yes',
    ])
    expect(to.consumers).toMatchObject([{ claimedTo: 'new-1', claimed: 3 }])
    const pending = (await redis.xpending(s, 'g')) as [number, string, string, [string, string][]]
    expect(pending[3]).toEqual([['new-1', '3']])
  })
})

describe('streams ls', () => {
  it('lists streams matching a pattern with length and groups', async () => {
    const s = name('firehose_live')
    await redis.xadd(s, '*', 'event', '{}')
    await redis.xgroup('CREATE', s, 'g', '0')
    const rows = await opsJson<{ stream: string; length: number; groups: number }[]>(['streams', 'ls', `${s}*`])
    expect(rows).toMatchObject([{ stream: s, length: 1, groups: 1 }])
    const t = await ops(['--json', 'streams', 'ls', `${s}*`]) // global options before the command
    expect(t.code).toBe(0)
  })
})

describe('errors', () => {
  const usage: [string, string[], RegExp][] = [
    ['no command', [], /missing command/],
    ['unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['unknown subcommand', ['dlq', 'explode'], /unknown command "dlq explode"; dlq has: ls, show, replay, purge/],
    ['unknown option', ['streams', 'ls', '--bogus'], /Unknown option '--bogus'/],
    ['extra argument', ['streams', 'ls', 'a', 'b'], /unexpected argument "b"/],
    ['groups: bad --redis-url', ['groups', 'ls', '--redis-url', 'http://x'], /must use redis: or rediss:/],
    ['pending: no stream', ['pending'], /missing <stream>/],
    ['pending: bad duration', ['pending', 'firehose_live', '--older-than', '5 minutes'], /--older-than must be a duration/],
    ['pending: bad count', ['pending', 'firehose_live', '--count', 'ten'], /--count must be a whole number/],
    ['pending: unknown stream needs a group', ['pending', 'somestream'], /--group is required/],
    ['dlq ls: bad count', ['dlq', 'ls', '--count', '-1'], /--count/],
    ['dlq show: no id', ['dlq', 'show'], /missing <id>/],
    ['dlq show: bad id', ['dlq', 'show', 'abc'], /"abc" is not a stream entry id/],
    ['dlq replay: nothing chosen', ['dlq', 'replay', '--yes'], /give the ids to replay, or --all/],
    ['dlq replay: ids and --all', ['dlq', 'replay', '1-0', '--all'], /not both/],
    ['dlq purge: bad id', ['dlq', 'purge', 'x-y', '--yes'], /not a stream entry id/],
    ['enqueue: nothing', ['backfill', 'enqueue'], /give DIDs, --file or --host/],
    ['enqueue: two sources', ['backfill', 'enqueue', 'did:plc:a', '--host', 'pds.x'], /only one of/],
    ['enqueue: not a DID', ['backfill', 'enqueue', 'did:plc:ok', 'alice.bsky.social'], /"alice.bsky.social" is not a DID/],
    [
      'enqueue: missing file',
      ['backfill', 'enqueue', '--file', '/nonexistent/dids.txt'],
      /cannot read --file \/nonexistent\/dids.txt: ENOENT/,
    ],
    ['enqueue: bad host', ['backfill', 'enqueue', '--host', 'ftp://pds.x'], /--host must use https:\/\//],
    ['enqueue: --cursor without --host', ['backfill', 'enqueue', 'did:plc:a', '--cursor', 'x'], /--cursor resumes a --host listing/],
    [
      'enqueue: bad high-water mark',
      ['backfill', 'enqueue', 'did:plc:a', '--high-water-mark', 'lots'],
      /--high-water-mark must be a whole number/,
    ],
    ['enqueue: bad limit', ['backfill', 'enqueue', 'did:plc:a', '--limit', '0'], /--limit must be between 1/],
    ['cursor get: missing host', ['cursor', 'get', 'firehose_live'], /missing <stream> <host>/],
    ['cursor set: not a seq', ['cursor', 'set', 'firehose_live', 'bsky.network', 'abc', '--yes'], /sequence number/],
    ['cursor set: missing value', ['cursor', 'set', 'firehose_live', 'bsky.network'], /missing <stream> <host> <value>/],
    ['prune: no --idle', ['consumers', 'prune', 'firehose_live', '--yes'], /--idle is required/],
    ['prune: bad --idle', ['consumers', 'prune', 'firehose_live', '--idle', 'soon'], /--idle must be a duration/],
    ['prune: no stream', ['consumers', 'prune'], /missing <stream>/],
    ['bad --shards', ['dlq', 'ls', '--shards', '0'], /--shards must be between 1 and 1024/],
  ]
  it.each(usage)('%s: exit 2 with a message', async (_, args, message) => {
    const r = await ops(args)
    expect(r.stderr).toMatch(message)
    expect(r.stderr).toMatch(/^error: /)
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
  })

  it('fails fast with exit 1 when Redis is unreachable', async () => {
    for (const args of [
      ['streams', 'ls'],
      ['dlq', 'replay', '--all', '--yes'],
      ['cursor', 'get', 'firehose_live', 'x'],
    ]) {
      const r = await ops(args, { env: { REDIS_URL: 'redis://127.0.0.1:1' } })
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/^error: cannot reach Redis at redis:\/\/127\.0\.0\.1:1.*ECONNREFUSED/)
      expect(r.ms).toBeLessThan(8000)
    }
    // A password in the URL is not echoed.
    const r = await ops(['streams', 'ls', '--redis-url', 'redis://:s3cret@127.0.0.1:1'])
    expect(r.stderr).not.toContain('s3cret')
  })

  it('--help prints usage and exits 0', async () => {
    const all = await ops(['--help'])
    expect(all.code).toBe(0)
    expect(all.stdout).toContain('dlq replay')
    const one = await ops(['dlq', 'replay', '--help'])
    expect(one.code).toBe(0)
    expect(one.stdout).toContain('usage: ops dlq replay')
  })
})
