import { createServer, type Server } from 'node:http'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cursorKey, dlqStreamName, writeDeadLetter } from '@firehose/streams'
import { buildCli, newRedis, ops, opsJson, uniqueName } from './test/cli.js'

let redis: Redis
const created: string[] = []
const name = (p: string) => {
  const n = uniqueName(p)
  created.push(n, dlqStreamName(n))
  return n
}

beforeAll(async () => {
  buildCli()
  redis = newRedis()
})
afterAll(async () => {
  const keys = [...created]
  for (const n of created) keys.push(...(await redis.keys(`${n}*`)))
  if (keys.length) await redis.del(...new Set(keys))
  await redis.quit()
})

const fieldsOf = (flat: string[]) => Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]))

async function deadLetter(stream: string, dids: string[]): Promise<string[]> {
  const ids: string[] = []
  for (const [i, did] of dids.entries()) {
    ids.push(
      await writeDeadLetter(redis, { repo: JSON.stringify({ did, host: 'https://pds.example' }) }, {
        error: `getRepo failed: HTTP 500 (${i})`,
        attempts: 3,
        consumer: 'backfiller-old',
        sourceStream: stream,
        sourceId: `1700000000000-${i}`,
      }),
    )
  }
  return ids
}

describe('dlq', () => {
  it('lists, shows, and replays everything back to the source stream, emptying the DLQ', async () => {
    const s = name('repo_backfill')
    const dlq = dlqStreamName(s)
    const ids = await deadLetter(s, ['did:plc:aaa', 'did:plc:bbb', 'did:plc:ccc'])

    const ls = await opsJson<{ total: number; entries: { id: string; error: string; attempts: number; target: string; fields: Record<string, string> }[] }>(['dlq', 'ls', '--stream', s])
    expect(ls.total).toBe(3)
    expect(ls.entries.map((e) => e.id)).toEqual(ids)
    expect(ls.entries[0]).toMatchObject({ attempts: 3, target: s, error: 'getRepo failed: HTTP 500 (0)' })
    expect(Object.keys(ls.entries[0]!.fields)).toEqual(['repo'])

    const table = await ops(['dlq', 'ls', '--stream', dlq]) // the DLQ's own name works too
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/^ID\s+SUBJECT\s+ATTEMPTS/)
    expect(table.stdout).toContain('did:plc:bbb')

    const show = await opsJson<{ id: string; fields: Record<string, string>; consumer: string }>(['dlq', 'show', ids[1]!, '--stream', s])
    expect(show).toMatchObject({ id: ids[1], consumer: 'backfiller-old' })
    expect(JSON.parse(show.fields.repo!)).toEqual({ did: 'did:plc:bbb', host: 'https://pds.example' })

    // Without --yes nothing moves.
    const dry = await ops(['dlq', 'replay', '--all', '--stream', s])
    expect(dry.code).toBe(0)
    expect(dry.stdout).toContain('would replay 3 entries')
    expect(dry.stderr).toContain('--yes')
    expect(await redis.xlen(dlq)).toBe(3)
    expect(await redis.xlen(s)).toBe(0)

    const res = await opsJson<{ dryRun: boolean; replayed: { id: string; target: string; newId: string }[] }>(['dlq', 'replay', '--all', '--stream', s, '--yes'])
    expect(res.dryRun).toBe(false)
    expect(res.replayed.map((r) => r.id)).toEqual(ids)
    expect(await redis.xlen(dlq)).toBe(0)
    const back = (await redis.xrange(s, '-', '+')) as [string, string[]][]
    expect(back.map(([, f]) => fieldsOf(f))).toEqual(
      ['did:plc:aaa', 'did:plc:bbb', 'did:plc:ccc'].map((did) => ({ repo: JSON.stringify({ did, host: 'https://pds.example' }) })),
    )
  })

  it('replays chosen ids only, and purges by id or all with --yes', async () => {
    const s = name('repo_backfill')
    const dlq = dlqStreamName(s)
    const ids = await deadLetter(s, ['did:plc:one', 'did:plc:two', 'did:plc:three', 'did:plc:four'])

    const one = await ops(['dlq', 'replay', ids[1]!, '--stream', s, '--yes'])
    expect(one.code).toBe(0)
    expect(one.stdout).toContain(`replayed 1 entry from ${dlq} to ${s}`)
    expect(await redis.xlen(dlq)).toBe(3)
    expect(await redis.xlen(s)).toBe(1)

    const missing = await ops(['dlq', 'replay', '1-1', '--stream', s, '--yes'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('not found')

    expect((await ops(['dlq', 'purge', ids[0]!, '--stream', s])).code).toBe(0)
    expect(await redis.xlen(dlq)).toBe(3) // dry run
    expect((await ops(['dlq', 'purge', ids[0]!, '--stream', s, '--yes'])).code).toBe(0)
    expect(await redis.xlen(dlq)).toBe(2)
    const all = await opsJson<{ deleted: number }>(['dlq', 'purge', '--stream', s, '--yes'])
    expect(all.deleted).toBe(2)
    expect(await redis.exists(dlq)).toBe(0)
    expect(await redis.xlen(s)).toBe(1) // purge never touches the source stream
  })

  it('reads every shard with --shards', async () => {
    const s = name('repo_backfill')
    created.push(`${s}:{0}_dlq`, `${s}:{1}_dlq`)
    await deadLetter(`${s}:{0}`, ['did:plc:s0'])
    await deadLetter(`${s}:{1}`, ['did:plc:s1a', 'did:plc:s1b'])
    const ls = await opsJson<{ total: number }>(['dlq', 'ls', '--stream', s, '--shards', '2'])
    expect(ls.total).toBe(3)
    await ops(['dlq', 'replay', '--all', '--stream', s, '--shards', '2', '--yes'])
    expect(await redis.xlen(`${s}:{0}`)).toBe(1)
    expect(await redis.xlen(`${s}:{1}`)).toBe(2)
    expect(await redis.xlen(`${s}:{1}_dlq`)).toBe(0)
  })
})

describe('backfill enqueue', () => {
  const jobs = async (s: string) => ((await redis.xrange(s, '-', '+')) as [string, string[]][]).map(([, f]) => JSON.parse(fieldsOf(f).repo as string))

  it('adds the DIDs given, once each', async () => {
    const s = name('repo_backfill')
    const r = await opsJson<{ enqueued: number }>(['backfill', 'enqueue', 'did:plc:x1', 'did:web:example.com', 'did:plc:x1', '--stream', s, '--pds', 'pds.example.com'])
    expect(r.enqueued).toBe(2)
    expect(await jobs(s)).toEqual([
      { did: 'did:plc:x1', host: 'https://pds.example.com' },
      { did: 'did:web:example.com', host: 'https://pds.example.com' },
    ])
  })

  it('reads a file of DIDs, "did host" lines and JSON lines', async () => {
    const s = name('repo_backfill')
    const file = join(mkdtempSync(join(tmpdir(), 'ops-')), 'dids.txt')
    writeFileSync(file, '# repos to redo\ndid:plc:f1\n\ndid:plc:f2 https://other.pds/\n{"did":"did:plc:f3","host":"https://j.pds","rev":"3abc"}\n')
    const r = await ops(['backfill', 'enqueue', '--file', file, '--stream', s])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`enqueued 3 repos to ${s}\n`)
    expect(await jobs(s)).toEqual([
      { did: 'did:plc:f1', host: '' },
      { did: 'did:plc:f2', host: 'https://other.pds' },
      { did: 'did:plc:f3', host: 'https://j.pds', rev: '3abc' },
    ])
    const stdin = await ops(['backfill', 'enqueue', '--file', '-', '--stream', s], { input: 'did:plc:f4\n' })
    expect(stdin.code).toBe(0)
    expect(await redis.xlen(s)).toBe(4)
  })

  it('lists a host with listRepos, page by page', async () => {
    const s = name('repo_backfill')
    const repos = Array.from({ length: 5 }, (_, i) => ({ did: `did:plc:h${i}`, head: 'bafy', rev: `rev${i}`, active: i !== 3, ...(i === 3 ? { status: 'takendown' } : {}) }))
    const seen: string[] = []
    const server: Server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x')
      seen.push(u.search)
      if (u.pathname !== '/xrpc/com.atproto.sync.listRepos') return void res.writeHead(404).end()
      const start = Number(u.searchParams.get('cursor') ?? 0)
      const page = repos.slice(start, start + 2)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ repos: page, ...(start + 2 < repos.length ? { cursor: String(start + 2) } : {}) }))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const r = await opsJson<{ enqueued: number }>(['backfill', 'enqueue', '--host', host, '--stream', s])
      expect(r.enqueued).toBe(5)
      expect(seen).toHaveLength(3)
      const got = await jobs(s)
      expect(got[0]).toEqual({ did: 'did:plc:h0', host, rev: 'rev0', active: true })
      expect(got[3]).toEqual({ did: 'did:plc:h3', host, rev: 'rev3', status: 'takendown', active: false })

      const s2 = name('repo_backfill')
      const active = await opsJson<{ enqueued: number }>(['backfill', 'enqueue', '--host', host, '--stream', s2, '--active-only', '--limit', '3'])
      expect(active.enqueued).toBe(3)
      expect((await jobs(s2)).map((j) => j.did)).toEqual(['did:plc:h0', 'did:plc:h1', 'did:plc:h2'])

      const s3 = name('repo_backfill')
      const resumed = await opsJson<{ enqueued: number }>(['backfill', 'enqueue', '--host', host, '--stream', s3, '--cursor', '2'])
      expect(resumed.enqueued).toBe(3)
      expect((await jobs(s3)).map((j) => j.did)).toEqual(['did:plc:h2', 'did:plc:h3', 'did:plc:h4'])
    } finally {
      server.close()
    }
  })

  it('waits while the backfillers\' group has --high-water-mark entries to read', async () => {
    const s = name('repo_backfill')
    for (let i = 0; i < 3; i++) await redis.xadd(s, '*', 'repo', JSON.stringify({ did: `did:plc:old${i}`, host: '' }))
    await redis.xgroup('CREATE', s, 'repo_backfill_group', '0')
    const run = ops(['backfill', 'enqueue', 'did:plc:new1', 'did:plc:new2', '--stream', s, '--high-water-mark', '3'])
    await new Promise((r) => setTimeout(r, 2500))
    expect(await redis.xlen(s)).toBe(3) // paused: 3 entries not yet read by the group
    await redis.xreadgroup('GROUP', 'repo_backfill_group', 'b1', 'COUNT', 3, 'STREAMS', s, '>')
    const r = await run
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('waiting: ')
    expect(await redis.xlen(s)).toBe(5)
  })

  it('puts each DID on its shard with --shards', async () => {
    const s = name('repo_backfill')
    created.push(`${s}:{0}`, `${s}:{1}`, `${s}:{2}`)
    const dids = Array.from({ length: 12 }, (_, i) => `did:plc:shard${i}`)
    const r = await opsJson<{ enqueued: number; streams: Record<string, number> }>(['backfill', 'enqueue', ...dids, '--stream', s, '--shards', '3'])
    expect(r.enqueued).toBe(12)
    expect(Object.keys(r.streams).every((k) => /:\{[012]\}$/.test(k))).toBe(true)
    let total = 0
    for (const k of Object.keys(r.streams)) total += await redis.xlen(k)
    expect(total).toBe(12)
    expect(await redis.exists(s)).toBe(0)
  })

  it('fails clearly when the host cannot be listed', async () => {
    const s = name('repo_backfill')
    const r = await ops(['backfill', 'enqueue', '--host', 'http://127.0.0.1:1', '--stream', s])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/listRepos on http:\/\/127\.0\.0\.1:1 failed/)
  })
})

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
    const groups = await opsJson<{ group: string; lag: number; pending: number; consumers: { name: string; pending: number }[] }[]>(['groups', 'ls', s])
    expect(groups).toHaveLength(1)
    expect(groups[0]).toMatchObject({ group: 'g', lag: 2, pending: 4 })
    expect(groups[0]!.consumers.map((c) => [c.name, c.pending]).sort()).toEqual([['dead-1', 3], ['live-1', 1]])
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

  it('claims a dead consumer\'s pending entries to a live one before removing it', async () => {
    const s = await setup()
    await new Promise((r) => setTimeout(r, 6000))
    // live-1 reads just before each prune, so it is never idle for --idle 4s even on a slow machine.
    const touch = () => redis.xreadgroup('GROUP', 'g', 'live-1', 'COUNT', 1, 'STREAMS', s, '>')
    await touch()
    const dry = await opsJson<{ dryRun: boolean; consumers: { consumer: string; claimedTo: string }[] }>(['consumers', 'prune', s, '--group', 'g', '--idle', '4s'])
    expect(dry.dryRun).toBe(true)
    expect(dry.consumers).toMatchObject([{ consumer: 'dead-1', pending: 3, claimedTo: 'live-1' }])
    expect((await redis.xinfo('CONSUMERS', s, 'g')) as unknown[]).toHaveLength(2)

    await touch()
    const r = await opsJson<{ consumers: { consumer: string; claimed: number; removed: boolean }[] }>(['consumers', 'prune', s, '--group', 'g', '--idle', '4s', '--yes'])
    expect(r.consumers).toMatchObject([{ consumer: 'dead-1', claimed: 3, removed: true }])
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

    const to = await opsJson<{ consumers: { claimedTo: string }[] }>(['consumers', 'prune', s, '--group', 'g', '--idle', '1s', '--to', 'new-1', '--yes'])
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
    ['enqueue: missing file', ['backfill', 'enqueue', '--file', '/nonexistent/dids.txt'], /cannot read --file \/nonexistent\/dids.txt: ENOENT/],
    ['enqueue: bad host', ['backfill', 'enqueue', '--host', 'ftp://pds.x'], /--host must use https:\/\//],
    ['enqueue: --cursor without --host', ['backfill', 'enqueue', 'did:plc:a', '--cursor', 'x'], /--cursor resumes a --host listing/],
    ['enqueue: bad high-water mark', ['backfill', 'enqueue', 'did:plc:a', '--high-water-mark', 'lots'], /--high-water-mark must be a whole number/],
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
    for (const args of [['streams', 'ls'], ['dlq', 'replay', '--all', '--yes'], ['cursor', 'get', 'firehose_live', 'x']]) {
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
