import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { allShards, streamForDid } from './names.js'
import { StreamProducer } from './producer.js'
import { createRedis, type RedisClient } from './redis.js'
import { StreamWorker } from './worker.js'
import { uniqueName, waitFor } from './test/helpers.js'

/** A real 3-node Redis Cluster started by the services script. */
function clusterNodes(): string[] {
  if (process.env.REDIS_CLUSTER_NODES) return process.env.REDIS_CLUSTER_NODES.split(',')
  const script = fileURLToPath(new URL('../../../scripts/services.sh', import.meta.url))
  const out = execFileSync('bash', [script, 'cluster', 'start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  const m = /REDIS_CLUSTER_NODES='([^']+)'/.exec(out)
  if (!m?.[1]) throw new Error(`cluster did not start: ${out}`)
  return m[1].split(',')
}

describe('Redis Cluster', () => {
  let redis: RedisClient
  beforeAll(async () => {
    redis = createRedis({ url: '', clusterNodes: clusterNodes() })
    await waitFor(() => redis.status === 'ready', 20_000, 'cluster ready')
  })
  afterAll(async () => {
    await redis.quit()
  })

  it('produces to DID-sharded streams on different nodes and consumes every shard', async () => {
    const base = uniqueName('fh')
    const shards = 4
    const producer = new StreamProducer({ redis, batchSize: 25, flushIntervalMs: 5 })
    const dids = Array.from({ length: 50 }, (_, i) => `did:plc:${i.toString().padStart(4, '0')}`)
    const writes: Promise<void>[] = []
    for (let n = 0; n < 4; n++) for (const did of dids) writes.push(producer.add(streamForDid(base, did, shards), ['event', `${did}|${n}`]))
    await Promise.all(writes)
    await producer.close()
    const seen = new Map<string, string[]>()
    const workers = allShards(base, shards).map(
      (stream) =>
        new StreamWorker({
          redis,
          stream,
          group: 'g',
          consumer: 'c',
          blockMs: 100,
          batchSize: 20,
          handler: async (es) => {
            for (const e of es) {
              const [did, n] = (e.fields.event as string).split('|') as [string, string]
              seen.set(did, [...(seen.get(did) ?? []), `${stream}:${n}`])
            }
          },
        }),
    )
    for (const w of workers) await w.start()
    await waitFor(() => [...seen.values()].reduce((a, v) => a + v.length, 0) === 200, 20_000, 'all consumed')
    await Promise.all(workers.map((w) => w.close()))
    for (const [did, got] of seen) {
      // one DID's events stay in one shard, in order
      const shard = streamForDid(base, did, shards)
      expect(got).toEqual([0, 1, 2, 3].map((n) => `${shard}:${n}`))
    }
    expect(new Set(dids.map((d) => streamForDid(base, d, shards))).size).toBe(shards)
  })
})
