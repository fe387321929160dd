import { describe, expect, it } from 'vitest'
import { dlqStreamName, writeDeadLetter } from '@firehose/streams'
import { ops, opsJson } from './test/cli.js'
import { cliTestSetup, fieldsOf } from './test/cli-setup.js'

const { redis, name, deleteAfter } = cliTestSetup()

async function deadLetter(stream: string, dids: string[]): Promise<string[]> {
  const ids: string[] = []
  for (const [i, did] of dids.entries()) {
    ids.push(
      await writeDeadLetter(
        redis,
        { repo: JSON.stringify({ did, host: 'https://pds.example' }) },
        {
          error: `getRepo failed: HTTP 500 (${i})`,
          attempts: 3,
          consumer: 'backfiller-old',
          sourceStream: stream,
          sourceId: `1700000000000-${i}`,
        },
      ),
    )
  }
  return ids
}

describe('dlq', () => {
  it('lists, shows, and replays everything back to the source stream, emptying the DLQ', async () => {
    const s = name('repo_backfill')
    const dlq = dlqStreamName(s)
    const ids = await deadLetter(s, ['did:plc:aaa', 'did:plc:bbb', 'did:plc:ccc'])

    const ls = await opsJson<{
      total: number
      entries: { id: string; error: string; attempts: number; target: string; fields: Record<string, string> }[]
    }>(['dlq', 'ls', '--stream', s])
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

    const res = await opsJson<{ dryRun: boolean; replayed: { id: string; target: string; newId: string }[] }>([
      'dlq',
      'replay',
      '--all',
      '--stream',
      s,
      '--yes',
    ])
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
    deleteAfter(`${s}:{0}_dlq`, `${s}:{1}_dlq`)
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
