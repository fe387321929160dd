/**
 * `ops groups rm`: a group that stopped reading (an earlier worker's `firehose_group`) pins the
 * trimming of its stream; removing it lets the workers trim what the remaining groups acked.
 */
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { allShards, trimAcked } from '@firehose/streams'
import { buildCli, newRedis, ops, opsJson, uniqueName } from './test/cli.js'

let redis: Redis
const created: string[] = []
beforeAll(() => {
  buildCli()
  redis = newRedis()
})
afterAll(async () => {
  if (created.length) await redis.del(...created)
  await redis.quit()
})

async function streamWithStaleGroup(stream: string): Promise<void> {
  created.push(stream)
  for (let i = 0; i < 5; i++) await redis.xadd(stream, '*', 'event', `{"n":${i}}`)
  await redis.xgroup('CREATE', stream, 'firehose_group', '0')
  await redis.xgroup('CREATE', stream, 'indexer_group', '0')
  const read = (await redis.xreadgroup('GROUP', 'indexer_group', 'c1', 'COUNT', 10, 'STREAMS', stream, '>')) as [
    string,
    [string, string[]][],
  ][]
  await redis.xack(stream, 'indexer_group', ...(read[0]?.[1].map(([id]) => id) ?? []))
}

describe('groups rm', () => {
  it('removes a stale group (dry run first), after which the acked entries are trimmed', async () => {
    const s = uniqueName('firehose_live')
    await streamWithStaleGroup(s)
    // the stale group holds everything back
    expect(await trimAcked(redis, s)).toBe(0)
    const dry = await opsJson<{ dryRun: boolean; groups: { stream: string; group: string; lag: number; removed: boolean }[] }>([
      'groups',
      'rm',
      s,
      '--group',
      'firehose_group',
    ])
    expect(dry).toMatchObject({ dryRun: true, groups: [{ stream: s, group: 'firehose_group', lag: 5, removed: false }] })
    expect((await redis.xinfo('GROUPS', s)) as unknown[]).toHaveLength(2)
    const table = await ops(['groups', 'rm', s, '--group', 'firehose_group'])
    expect(table.stdout).toMatch(/STREAM\s+GROUP\s+LAG\s+PENDING\s+CONSUMERS\s+REMOVED/)
    expect(table.stderr).toContain('dry run')

    const done = await opsJson<{ dryRun: boolean; groups: { removed: boolean }[] }>([
      'groups',
      'rm',
      s,
      '--group',
      'firehose_group',
      '--yes',
    ])
    expect(done).toMatchObject({ dryRun: false, groups: [{ removed: true }] })
    expect(((await redis.xinfo('GROUPS', s)) as unknown[]).length).toBe(1)
    expect(await trimAcked(redis, s)).toBe(5)
    expect(await redis.xlen(s)).toBe(0)
  })

  it('removes the group from every shard with --shards, and says which group is missing', async () => {
    const base = uniqueName('firehose_live')
    for (const s of allShards(base, 2)) await streamWithStaleGroup(s)
    const done = await opsJson<{ groups: { stream: string; removed: boolean }[] }>([
      'groups',
      'rm',
      base,
      '--group',
      'firehose_group',
      '--shards',
      '2',
      '--yes',
    ])
    expect(done.groups.map((g) => g.stream)).toEqual(allShards(base, 2))
    const missing = await ops(['groups', 'rm', base, '--group', 'firehose_group', '--shards', '2', '--yes'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('has no consumer group "firehose_group"')
    const usage = await ops(['groups', 'rm', base])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('--group is required')
  })
})
