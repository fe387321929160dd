/**
 * The whole pipeline end to end on a real local AT Protocol network (@atproto/dev-env PDS + PLC):
 * ingester, backfiller and indexer run as separate processes (node apps/<app>/dist/main.js)
 * against a Redis, Postgres and pgbouncer of this suite's own. Accounts that exist before the
 * pipeline starts reach Postgres through listRepos + backfill, later activity through the live
 * firehose; the tables must end equal to the ground truth read from every repo (getRepo).
 * The second run injects faults: SIGKILL + restart of each app, a Redis restart, a pgbouncer
 * restart.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { Activity, startNetwork, startPrivateServices, type LocalNetwork, type PrivateServices } from '@firehose/testkit'
import { createApps, type AppName, type AppProcess } from './apps.js'
import { readTruth, waitForConvergence, type ExpectedActor } from './truth-compare.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

interface Run {
  services: PrivateServices
  net: LocalNetwork
  apps: Record<AppName, AppProcess>
  pool: pg.Pool
}
let current: Run | null = null
afterEach(async () => {
  if (!current) return
  const { apps, net, services, pool } = current
  current = null
  for (const a of Object.values(apps)) {
    await a.stop('SIGTERM', 10_000).catch(() => undefined)
    a.close()
  }
  await pool.end().catch(() => undefined)
  await net.close().catch(() => undefined)
  await services.stop().catch(() => undefined)
})

async function setUp(name: string): Promise<Run & { activity: Activity }> {
  const services = await startPrivateServices(name)
  const net = await startNetwork()
  const activity = new Activity(net.seed, 42)
  // accounts and activity from before the pipeline existed: reached through listRepos + backfill
  await activity.createAccounts(4)
  await activity.run(30)
  const apps = await createApps({
    root,
    redisUrl: services.redisUrl,
    databaseUrl: services.databaseUrl,
    relayHosts: [net.pdsUrl],
    plcUrl: net.plcUrl,
    handleResolverUrl: net.pdsUrl,
    logDir: join(root, '.local', 'logs', name),
    logLevel: 'info',
    extra: {
      backfiller: { BACKFILLER_CLAIM_IDLE_MS: '3000', BACKFILLER_RETRY_INITIAL_BACKOFF_MS: '200', BACKFILLER_RETRY_MAX_BACKOFF_MS: '1000' },
      indexer: { INDEXER_CLAIM_IDLE_MS: '3000', INDEXER_CONCURRENCY: '8', INDEXER_BATCH_SIZE: '100', DB_POOL_MAX_SIZE: '10' },
      ingester: { INGESTER_BATCH_TIMEOUT_MS: '20' },
    },
  })
  for (const n of ['indexer', 'backfiller', 'ingester'] as AppName[]) {
    apps[n].start()
    await apps[n].waitReady()
  }
  const pool = new pg.Pool({ connectionString: services.databaseUrl, max: 2 })
  pool.on('error', () => undefined)
  current = { services, net, apps, pool }
  return { ...current, activity }
}

async function finish(run: Run & { activity: Activity }): Promise<void> {
  const { activity, net, pool } = run
  // a handle change and a deactivation, reflected in `actor`
  const [first, second] = activity.dids as [string, string]
  await activity.changeHandle(second)
  const truth: ExpectedActor[] = await readTruth(net.pdsUrl, activity.actors.map((a) => ({ did: a.did, handle: a.handle })))
  await activity.deactivate(first)
  const expected = truth.map((t) => (t.did === first ? { ...t, status: 'deactivated' } : t))
  const diffs = await waitForConvergence(pool, expected, 60_000)
  expect(diffs).toEqual([])
  const counts = expected.reduce((n, a) => n + a.records.length, 0)
  expect(counts).toBeGreaterThan(50)
  for (const a of Object.values(run.apps)) expect(a.running).toBe(true)
}

describe('end to end on a local AT Protocol network', () => {
  it('backfilled and live activity end in Postgres equal to every repo', { timeout: 240_000 }, async () => {
    const run = await setUp(`e2e-${process.pid}`)
    await run.activity.createAccounts(2)
    await run.activity.run(60)
    await finish(run)
  })

  it('with faults: SIGKILL and restart each app, restart Redis and pgbouncer; the tables still converge', { timeout: 240_000 }, async () => {
    const run = await setUp(`e2e-faults-${process.pid}`)
    const { activity, apps, services } = run
    await activity.run(10)
    await apps.ingester.restart('SIGKILL')
    await activity.createAccounts(1)
    await activity.run(10)
    await apps.backfiller.restart('SIGKILL')
    await activity.run(10)
    await apps.indexer.restart('SIGKILL')
    await activity.run(10)
    await services.restart('redis')
    await activity.run(10)
    await services.restart('pgbouncer')
    await activity.run(10)
    await finish(run)
  })
})
