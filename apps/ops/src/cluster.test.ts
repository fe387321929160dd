import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { allShards, dlqStreamName, writeDeadLetter } from '@firehose/streams'
import { buildCli, ops, opsJson, uniqueName } from './test/cli.js'

/** A real 3-node Redis Cluster started by the services script (as packages/streams' cluster test). */
function clusterNodes(): string {
  if (process.env.REDIS_CLUSTER_NODES) return process.env.REDIS_CLUSTER_NODES
  const script = fileURLToPath(new URL('../../../scripts/services.sh', import.meta.url))
  const out = execFileSync('bash', [script, 'cluster', 'start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  const m = /REDIS_CLUSTER_NODES='([^']+)'/.exec(out)
  if (!m?.[1]) throw new Error(`cluster did not start: ${out}`)
  return m[1]
}

describe('ops on a Redis Cluster with sharded streams', () => {
  let nodes: string
  let redis: Cluster
  const base = uniqueName('repo_backfill')
  const env = () => ({ REDIS_URL: undefined, REDIS_CLUSTER_NODES: nodes, STREAM_SHARDS: '3' })

  beforeAll(async () => {
    buildCli()
    nodes = clusterNodes()
    redis = new Cluster(nodes.split(',').map((n) => ({ host: n.split(':')[0] as string, port: Number(n.split(':')[1]) })))
    await redis.ping()
  })
  afterAll(async () => {
    for (const s of allShards(base, 3)) await redis.del(s, dlqStreamName(s))
    await redis.del(`firehose_live:cursor:${base}.example`)
    await redis.quit()
  })

  it('enqueues to every shard, lists streams on every node, replays sharded DLQs, round-trips a cursor', async () => {
    const dids = Array.from({ length: 30 }, (_, i) => `did:plc:clu${i}`)
    const r = await opsJson<{ enqueued: number; streams: Record<string, number> }>(['backfill', 'enqueue', ...dids, '--stream', base], {
      env: env(),
    })
    expect(r.enqueued).toBe(30)
    expect(Object.keys(r.streams).sort()).toEqual(allShards(base, 3))

    const ls = await opsJson<{ stream: string; length: number }[]>(['streams', 'ls', `${base}*`], { env: env() })
    expect(ls.map((s) => s.stream)).toEqual(allShards(base, 3))
    expect(ls.reduce((n, s) => n + s.length, 0)).toBe(30)

    for (const s of allShards(base, 3)) {
      await writeDeadLetter(
        redis,
        { repo: '{"did":"did:plc:dead","host":""}' },
        { error: 'x', attempts: 3, consumer: 'c', sourceStream: s, sourceId: '1-0' },
      )
    }
    expect((await opsJson<{ total: number }>(['dlq', 'ls', '--stream', base], { env: env() })).total).toBe(3)
    const replay = await ops(['dlq', 'replay', '--all', '--stream', base, '--yes'], { env: env() })
    expect(replay.code).toBe(0)
    for (const s of allShards(base, 3)) expect(await redis.xlen(dlqStreamName(s))).toBe(0)
    const lens = await Promise.all(allShards(base, 3).map((s) => redis.xlen(s)))
    expect(lens.reduce((a, b) => a + b, 0)).toBe(33)

    expect((await ops(['cursor', 'set', 'firehose_live', `${base}.example`, '7', '--yes'], { env: env() })).code).toBe(0)
    expect(await opsJson(['cursor', 'get', 'firehose_live', `${base}.example`], { env: env() })).toMatchObject({ value: '7' })
  })
})
