/**
 * A small high-water mark does not stop the pipeline: on the embedded AT Protocol network, with
 * `INGESTER_BACKFILL_REPOS=true` and `INGESTER_HIGH_WATER_MARK=10` (and the backfiller's mark at
 * 10), more repos than the mark are listed into `repo_backfill`, backfilled, and live activity
 * after the backfill still reaches Postgres: the tables end equal to every repo's contents.
 * Before, `repo_backfill` (never trimmed, measured by XLEN) stayed at its mark after the listing
 * and every socket stayed paused: no live event reached `firehose_live` again.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { Activity, startNetwork, startPrivateServices, waitFor, type LocalNetwork, type PrivateServices } from '@firehose/testkit'
import { createApps, LOCAL_NETWORK, type AppName, type AppProcess } from './apps.js'
import { readTruth, waitForConvergence } from './truth-compare.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

let stop: { apps?: Record<AppName, AppProcess>; net?: LocalNetwork; services?: PrivateServices; pool?: pg.Pool; redis?: Redis } = {}
afterEach(async () => {
  const { apps, net, services, pool, redis } = stop
  stop = {}
  for (const a of Object.values(apps ?? {})) {
    await a.stop('SIGTERM', 10_000).catch(() => undefined)
    a.close()
  }
  await redis?.quit().catch(() => undefined)
  await pool?.end().catch(() => undefined)
  await net?.close().catch(() => undefined)
  await services?.remove().catch(() => undefined)
})

describe('high-water mark of 10 on the embedded network', () => {
  it('listRepos backfill of more repos than the mark, then live activity: Postgres ends equal to the repos', {
    timeout: 300_000,
  }, async () => {
    const name = `hwm-${process.pid}`
    const services = (stop.services = await startPrivateServices(name))
    const net = (stop.net = await startNetwork())
    const activity = new Activity(net.seed, 7)
    await activity.createAccounts(14)
    await activity.run(20)
    const apps = (stop.apps = await createApps({
      root,
      redisUrl: services.redisUrl,
      databaseUrl: services.databaseUrl,
      relayHosts: [net.pdsUrl],
      plcUrl: net.plcUrl,
      handleResolverUrl: net.pdsUrl,
      // the local network listens on 127.0.0.1: exactly that, nothing wider
      allowPrivateNetworks: LOCAL_NETWORK,
      logDir: join(root, '.local', 'logs', name),
      extra: {
        ingester: { INGESTER_HIGH_WATER_MARK: '10', INGESTER_WRITE_BATCH: '5', INGESTER_BATCH_TIMEOUT_MS: '20' },
        backfiller: {
          BACKFILLER_HIGH_WATER_MARK: '10',
          BACKFILLER_CHUNK_SIZE: '5',
          BACKFILLER_CLAIM_IDLE_MS: '3000',
          BACKFILLER_TRIM_INTERVAL_MS: '500',
        },
        indexer: {
          INDEXER_CLAIM_IDLE_MS: '3000',
          INDEXER_CONCURRENCY_PER_SHARD: '4',
          INDEXER_READ_BATCH: '20',
          DB_POOL_MAX_SIZE: '8',
          INDEXER_TRIM_INTERVAL_MS: '500',
        },
      },
    }))
    for (const n of ['indexer', 'backfiller', 'ingester'] as AppName[]) {
      apps[n].start()
      await apps[n].waitReady()
    }
    const redis = (stop.redis = new Redis(services.redisUrl))
    // the listing has gone past the mark and ended
    await waitFor(
      async () =>
        (await redis.keys('repo_backfill:cursor:*')).length > 0 &&
        (await redis.get((await redis.keys('repo_backfill:cursor:*'))[0] as string)) === '!ingester-done',
      120_000,
      'listRepos done',
    )
    // live activity after the backfill (new accounts, posts, likes, follows, deletes)
    await activity.createAccounts(2)
    await activity.run(40)
    const pool = (stop.pool = new pg.Pool({ connectionString: services.databaseUrl, max: 2 }))
    pool.on('error', () => undefined)
    const expected = await readTruth(
      net.pdsUrl,
      activity.actors.map((a) => ({ did: a.did, handle: a.handle })),
    )
    const diffs = await waitForConvergence(pool, expected, 90_000)
    expect(diffs).toEqual([])
    expect(expected.length).toBeGreaterThan(10)
    // repo_backfill is trimmed once backfilled: it holds no more than its mark
    await waitFor(async () => (await redis.xlen('repo_backfill')) <= 10, 10_000, 'repo_backfill trimmed')
    for (const a of Object.values(apps)) expect(a.running).toBe(true)
  })
})
