/**
 * Labels arrive with any STREAM_SHARDS: on the real Redis Cluster the services script starts,
 * with STREAM_SHARDS=3, the ingester (a process) writes a labeler's labels to `label_live:{n}`
 * (sharded by the subject's DID) and the indexer (a process) indexes every one of them. Before,
 * the ingester wrote plain `label_live` while the indexer read the shards: nothing was indexed.
 */
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { allShards, createRedis, type RedisClient } from '@firehose/streams'
import { createTestDatabase, LocalLabeler, waitFor, type TestDatabase } from '@firehose/testkit'
import { AppProcess, freePort } from './apps.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

function clusterNodes(): string[] {
  if (process.env.REDIS_CLUSTER_NODES) return process.env.REDIS_CLUSTER_NODES.split(',')
  const out = execFileSync('bash', [join(root, 'scripts', 'services.sh'), 'cluster', 'start'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const m = /REDIS_CLUSTER_NODES='([^']+)'/.exec(out)
  if (!m?.[1]) throw new Error(`cluster did not start: ${out}`)
  return m[1].split(',')
}

const cleanup: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined)
})

describe('labels with STREAM_SHARDS=3 on Redis Cluster', () => {
  it('are written to label_live:{n} and every one is indexed', { timeout: 180_000 }, async () => {
    const nodes = clusterNodes()
    const redis: RedisClient = createRedis({ url: '', clusterNodes: nodes })
    cleanup.push(() => redis.quit())
    const db: TestDatabase = await createTestDatabase('labels_cluster')
    cleanup.push(() => db.drop())
    const labeler = await LocalLabeler.start()
    cleanup.push(() => labeler.close())
    const id = Math.random().toString(36).slice(2, 8)
    const labelStream = `label_live_${id}`
    const common = { REDIS_CLUSTER_NODES: nodes.join(','), STREAM_SHARDS: '3', LOG_LEVEL: 'info' }
    const logDir = join(root, '.local', 'logs', `labels-cluster-${id}`)
    const ingesterPort = await freePort()
    const ingester = new AppProcess(
      'ingester',
      root,
      {
        ...common,
        METRICS_PORT: String(ingesterPort),
        INGESTER_LABELER_HOSTS: labeler.hostEntry,
        // the labeler (and its did:web document) listens on loopback: exactly that, nothing wider
        ALLOW_PRIVATE_NETWORKS: '127.0.0.1/32',
        INGESTER_LABEL_STREAM: labelStream,
        INGESTER_FIREHOSE_STREAM: `firehose_live_${id}`,
        INGESTER_REPO_STREAM: `repo_backfill_${id}`,
        INGESTER_BATCH_TIMEOUT_MS: '20',
      },
      ingesterPort,
      logDir,
    )
    const indexerPort = await freePort()
    const indexer = new AppProcess(
      'indexer',
      root,
      {
        ...common,
        METRICS_PORT: String(indexerPort),
        DATABASE_URL: db.url,
        INDEXER_CONSUMER: 'indexer-1',
        INDEXER_STREAMS: `firehose_live_${id}`,
        INDEXER_LABEL_STREAM: labelStream,
        ENABLE_DID_RESOLUTION: 'false',
      },
      indexerPort,
      logDir,
    )
    for (const app of [indexer, ingester]) {
      cleanup.push(async () => {
        await app.stop('SIGTERM', 10_000)
        app.close()
      })
      app.start()
      await app.waitReady()
    }

    // subjects of many DIDs (records and accounts), so that every shard gets some
    const subjects = Array.from({ length: 12 }, (_, i) => {
      const did = `did:plc:labelsubject${String(i).padStart(12, '0')}`
      return i % 3 === 0 ? did : `at://${did}/app.bsky.feed.post/3l${String(i).padStart(11, '0')}`
    })
    for (const uri of subjects) await labeler.emit(uri, 'spam')

    const pool = new pg.Pool({ connectionString: db.url, max: 1 })
    cleanup.push(() => pool.end())
    const indexed = async () =>
      (await pool.query<{ uri: string }>('select uri from label where val = $1 order by uri', ['spam'])).rows.map((r) => r.uri)
    await waitFor(async () => (await indexed().catch(() => [])).length === subjects.length, 60_000, 'every label indexed')
    expect(await indexed()).toEqual([...subjects].sort())

    const lengths = await Promise.all(allShards(labelStream, 3).map((s) => redis.xlen(s)))
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(subjects.length)
    expect(lengths.filter((n) => n > 0).length).toBeGreaterThan(1)
    expect(await redis.exists(labelStream)).toBe(0)
  })
})
