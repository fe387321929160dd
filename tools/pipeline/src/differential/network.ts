import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { cursorKey } from '@firehose/streams'
import { createTestDatabase, startNetworkWithAppView, type AppViewNetwork, type TestDatabase } from '@firehose/testkit'
import { waitFor } from '@firehose/testkit/wait'
import { createApps, LOCAL_NETWORK, type AppProcess } from '../apps.js'
import { workload } from './workload.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..')

/** Both sides after the workload, caught up: clients on our database and on bsky's. */
export interface Differential {
  ours: pg.Client
  ref: pg.Client
  /** the workload's accounts */
  dids: string[]
  close(): Promise<void>
}

/**
 * The dev-env network with bsky's AppView, our ingester and indexer on its PDS, the workload
 * run through the PDS, and both sides caught up with the PDS's last seq.
 */
export async function startDifferential(): Promise<Differential> {
  let refDb: TestDatabase | undefined
  let oursDb: TestDatabase | undefined
  let net: AppViewNetwork | undefined
  let apps: Record<string, AppProcess> = {}
  let redis: Redis | undefined
  let ours: pg.Client | undefined
  let ref: pg.Client | undefined
  const stream = `diff_live_${process.pid}`
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

  const close = async (): Promise<void> => {
    for (const app of Object.values(apps)) {
      await app.stop('SIGTERM', 10_000).catch(() => undefined)
      app.close()
    }
    await Promise.all([ours?.end(), ref?.end()].map((p) => p?.catch(() => undefined)))
    await net?.close().catch(() => undefined)
    if (redis) {
      const keys = [stream, `${stream}_labels`, `${stream}_repos`, ...(net ? [cursorKey(stream, net.pdsUrl)] : [])]
      await redis.del(...keys).catch(() => undefined)
      await redis.quit().catch(() => undefined)
    }
    await Promise.all([refDb?.drop(), oursDb?.drop()].map((p) => p?.catch(() => undefined)))
  }

  try {
    const t0 = Date.now()
    ;[refDb, oursDb] = await Promise.all([createTestDatabase('diff_bsky'), createTestDatabase('diff_ours')])
    const r = new URL(redisUrl)
    const network = await startNetworkWithAppView({
      dbPostgresUrl: refDb.directUrl,
      dbPostgresSchema: 'ref',
      redisHost: `${r.hostname}:${r.port || 6379}`,
    })
    net = network
    const client = new Redis(redisUrl)
    redis = client
    // Our ingester starts from the PDS's current seq (a stored cursor), so it misses nothing of
    // the workload however long its websocket takes to connect.
    await client.set(cursorKey(stream, network.pdsUrl), String(await network.pdsSeq()))
    const all = await createApps({
      root,
      redisUrl,
      databaseUrl: oursDb.url,
      relayHosts: [network.pdsUrl],
      plcUrl: network.plcUrl,
      handleResolverUrl: network.pdsUrl,
      allowPrivateNetworks: LOCAL_NETWORK,
      logDir: join(root, '.local', 'logs', `differential-${process.pid}`),
      extra: {
        ingester: {
          INGESTER_BACKFILL_REPOS: 'false',
          INGESTER_FIREHOSE_STREAM: stream,
          INGESTER_LABEL_STREAM: `${stream}_labels`,
          INGESTER_REPO_STREAM: `${stream}_repos`,
          INGESTER_BATCH_TIMEOUT_MS: '20',
          INGESTER_CURSOR_INTERVAL_MS: '50',
        },
        indexer: {
          INDEXER_STREAMS: stream,
          INDEXER_LABEL_STREAM: `${stream}_labels`,
          DATABASE_MIGRATION_URL: oursDb.directUrl,
          INDEXER_CONCURRENCY: '8',
          INDEXER_BATCH_SIZE: '100',
          DB_POOL_MAX_SIZE: '10',
        },
      },
    })
    apps = { ingester: all.ingester, indexer: all.indexer }
    all.backfiller.close()
    for (const app of Object.values(apps)) app.start()
    await Promise.all(Object.values(apps).map((app) => app.waitReady()))
    const t1 = Date.now()

    // bsky has indexed everything the PDS sequenced so far
    const settle = async (): Promise<void> => {
      const seq = await network.pdsSeq()
      await waitFor(async () => (await network.appviewSeq()) >= seq, 30_000, `bsky's indexer at seq ${seq}`)
      await network.appviewProcessAll()
    }
    const result = await workload(network.seed, settle)
    const t2 = Date.now()

    // caught up: bsky's subscription cursor and ours (the ingester's stored cursor, then every
    // entry of the stream delivered to the indexer's group and acked) at the PDS's last seq
    const target = await network.pdsSeq()
    await waitFor(async () => (await network.appviewSeq()) >= target, 30_000, `bsky's indexer at seq ${target}`)
    await network.appviewProcessAll()
    await waitFor(
      async () => {
        const cursor = Number((await client.get(cursorKey(stream, network.pdsUrl))) ?? '-1')
        if (cursor < target) return false
        const info = fields((await client.xinfo('STREAM', stream)) as unknown[])
        const group = ((await client.xinfo('GROUPS', stream)) as unknown[][]).map(fields).find((g) => g.name === 'indexer_group')
        return !!group && Number(group.pending) === 0 && group['last-delivered-id'] === info['last-generated-id']
      },
      30_000,
      `our indexer at seq ${target}`,
    )
    console.log(
      `differential: set-up ${t1 - t0} ms, workload ${t2 - t1} ms (${JSON.stringify(result.counts)}), catch-up ${Date.now() - t2} ms, pds seq ${target}`,
    )

    const oursClient = new pg.Client({ connectionString: oursDb.directUrl })
    const refClient = new pg.Client({ connectionString: refDb.directUrl })
    ours = oursClient
    ref = refClient
    await Promise.all([oursClient.connect(), refClient.connect()])
    await refClient.query(`SET search_path TO ${network.appviewSchema}`)
    return { ours: oursClient, ref: refClient, dids: result.dids, close }
  } catch (err) {
    await close()
    throw err
  }
}

/** `[k, v, k, v]` (XINFO) → object. */
function fields(reply: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = reply[i + 1]
  return out
}
