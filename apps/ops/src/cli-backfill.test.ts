import { createServer, type Server } from 'node:http'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { ops, opsJson } from './test/cli.js'
import { cliTestSetup, fieldsOf } from './test/cli-setup.js'

const { redis, name, deleteAfter } = cliTestSetup()

describe('backfill enqueue', () => {
  const jobs = async (s: string) =>
    ((await redis.xrange(s, '-', '+')) as [string, string[]][]).map(([, f]) => JSON.parse(fieldsOf(f).repo as string))

  it('adds the DIDs given, once each', async () => {
    const s = name('repo_backfill')
    const r = await opsJson<{ enqueued: number }>([
      'backfill',
      'enqueue',
      'did:plc:x1',
      'did:web:example.com',
      'did:plc:x1',
      '--stream',
      s,
      '--pds',
      'pds.example.com',
    ])
    expect(r.enqueued).toBe(2)
    expect(await jobs(s)).toEqual([
      { did: 'did:plc:x1', host: 'https://pds.example.com' },
      { did: 'did:web:example.com', host: 'https://pds.example.com' },
    ])
  })

  it('reads a file of DIDs, "did host" lines and JSON lines', async () => {
    const s = name('repo_backfill')
    const file = join(mkdtempSync(join(tmpdir(), 'ops-')), 'dids.txt')
    writeFileSync(
      file,
      '# repos to redo\ndid:plc:f1\n\ndid:plc:f2 https://other.pds/\n{"did":"did:plc:f3","host":"https://j.pds","rev":"3abc"}\n',
    )
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
    const repos = Array.from({ length: 5 }, (_, i) => ({
      did: `did:plc:h${i}`,
      head: 'bafy',
      rev: `rev${i}`,
      active: i !== 3,
      ...(i === 3 ? { status: 'takendown' } : {}),
    }))
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
      const active = await opsJson<{ enqueued: number }>([
        'backfill',
        'enqueue',
        '--host',
        host,
        '--stream',
        s2,
        '--active-only',
        '--limit',
        '3',
      ])
      expect(active.enqueued).toBe(3)
      expect((await jobs(s2)).map((j) => j.did)).toEqual(['did:plc:h0', 'did:plc:h1', 'did:plc:h2'])

      // outside ALLOW_PRIVATE_NETWORKS, the same host is refused, with the class only
      const listed = seen.length
      const refused = await ops(['backfill', 'enqueue', '--host', host, '--stream', name('repo_backfill')], {
        env: { ALLOW_PRIVATE_NETWORKS: undefined },
      })
      expect(refused.code).toBe(1)
      expect(refused.stderr).toMatch(/listRepos on http:\/\/127\.0\.0\.1:\d+ failed: peer address refused \(loopback\)/)
      expect(seen).toHaveLength(listed) // no request reached the host
      const bad = await ops(['backfill', 'enqueue', '--host', host, '--stream', name('repo_backfill')], {
        env: { ALLOW_PRIVATE_NETWORKS: '127.0.0.1/40' },
      })
      expect(bad.stderr).toMatch(/ALLOW_PRIVATE_NETWORKS/)

      const s3 = name('repo_backfill')
      const resumed = await opsJson<{ enqueued: number }>(['backfill', 'enqueue', '--host', host, '--stream', s3, '--cursor', '2'])
      expect(resumed.enqueued).toBe(3)
      expect((await jobs(s3)).map((j) => j.did)).toEqual(['did:plc:h2', 'did:plc:h3', 'did:plc:h4'])
    } finally {
      server.close()
    }
  })

  it("waits while the backfillers' group has --high-water-mark entries to read", async () => {
    const s = name('repo_backfill')
    for (let i = 0; i < 3; i++) await redis.xadd(s, '*', 'repo', JSON.stringify({ did: `did:plc:old${i}`, host: '' }))
    await redis.xgroup('CREATE', s, 'repo_backfill_group', '0')
    let stderr = ''
    const run = ops(['backfill', 'enqueue', 'did:plc:new1', 'did:plc:new2', '--stream', s, '--high-water-mark', '3'], {
      onStderr: (soFar) => {
        stderr = soFar
      },
    })
    // (however long the CLI takes to start: it says when it waits)
    for (let waited = 0; !stderr.includes('waiting: '); waited += 50) {
      if (waited > 20_000) throw new Error(`the CLI did not say it waits at the mark: ${stderr}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(await redis.xlen(s)).toBe(3) // paused: 3 entries not yet read by the group
    await redis.xreadgroup('GROUP', 'repo_backfill_group', 'b1', 'COUNT', 3, 'STREAMS', s, '>')
    const r = await run
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('waiting: ')
    expect(await redis.xlen(s)).toBe(5)
  })

  it('puts each DID on its shard with --shards', async () => {
    const s = name('repo_backfill')
    deleteAfter(`${s}:{0}`, `${s}:{1}`, `${s}:{2}`)
    const dids = Array.from({ length: 12 }, (_, i) => `did:plc:shard${i}`)
    const r = await opsJson<{ enqueued: number; streams: Record<string, number> }>([
      'backfill',
      'enqueue',
      ...dids,
      '--stream',
      s,
      '--shards',
      '3',
    ])
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
