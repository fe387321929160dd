/**
 * Sync 1.1 on the live path, end to end: the ingester reads a real PDS through a hostile relay
 * (`RelayProxy`) that drops some `#commit` frames and alters others (a flipped signature byte, a
 * wrong `prevData`, a record block that does not match its CID). The ingester (INGESTER_VERIFY=full),
 * backfiller and indexer run as processes, as in e2e.test.ts. Then: no altered commit reached
 * `firehose_live`, the gaps were detected, the repos were resynced, every repo's sync state is its
 * current head, and Postgres holds exactly every repo's records: records deleted by a commit lost
 * in a gap (the proxy drops the commits of a post delete and an unlike on purpose, besides the
 * random deletes of the storm) are gone too, by the re-backfill's reconciliation (snapshot floor,
 * apps/indexer/src/writer/reconcile.ts).
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { decodeEvent, SyncStateStore, type StreamEvent } from '@firehose/streams'
import {
  Activity,
  RelayProxy,
  startNetwork,
  startPrivateServices,
  waitFor,
  type LocalNetwork,
  type PrivateServices,
} from '@firehose/testkit'
import { createApps, LOCAL_NETWORK, type AppName, type AppProcess } from './apps.js'
import { alter, commitOf, type Alteration } from './tamper.js'
import { compareTables, readTruth } from './truth-compare.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

let services: PrivateServices | undefined
let net: LocalNetwork | undefined
let proxy: RelayProxy | undefined
let apps: Record<AppName, AppProcess> | undefined
let pool: pg.Pool | undefined
let redis: Redis | undefined
afterAll(async () => {
  for (const a of Object.values(apps ?? {})) {
    await a.stop('SIGTERM', 10_000).catch(() => undefined)
    a.close()
  }
  await pool?.end().catch(() => undefined)
  redis?.disconnect()
  await proxy?.close().catch(() => undefined)
  await net?.close().catch(() => undefined)
  await services?.remove().catch(() => undefined)
})

/** Sum of a metric's samples whose labels include `labels`. */
async function metric(app: AppProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await fetch(`${app.url}/metrics`).then((r) => r.text())
  let sum = 0
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:]+)(\{([^}]*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const ls = m[3] ?? ''
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(m[4])
  }
  return sum
}

async function readLive(r: Redis): Promise<StreamEvent[]> {
  const entries = (await r.xrange('firehose_live', '-', '+')) as [string, string[]][]
  return entries.map(([, f]) => decodeEvent(f[f.indexOf('event') + 1] ?? '') as StreamEvent)
}

describe('sync 1.1 through a hostile relay', () => {
  it('altered commits are never written, gaps are detected and resynced, Postgres holds every repo', { timeout: 300_000 }, async () => {
    services = await startPrivateServices(`sync-${process.pid}`)
    net = await startNetwork()
    const activity = new Activity(net.seed, 16)
    await activity.createAccounts(4)
    await activity.run(10)

    let armed = false
    // commits to drop next, whatever the plan (deletes lost in a gap)
    let dropNext = 0
    let n = 0
    const altered: { did: string; rev: string; how: Alteration }[] = []
    const dropped: { did: string; rev: string }[] = []
    const plan: (Alteration | 'drop' | 'pass')[] = [
      'pass',
      'drop',
      'pass',
      'bad-signature',
      'pass',
      'wrong-prev-data',
      'pass',
      'record-mismatch',
    ]
    proxy = await RelayProxy.start({
      upstream: net.pdsUrl.replace(/^http/, 'ws'),
      tamper: (frame) => {
        const c = commitOf(frame)
        if (c && dropNext > 0) {
          dropNext--
          dropped.push({ did: c.body.repo as string, rev: c.body.rev as string })
          return null
        }
        if (!armed || !c) return frame
        const did = c.body.repo as string
        const rev = c.body.rev as string
        const what = plan[n++ % plan.length]!
        if (what === 'pass') return frame
        if (what === 'drop') {
          dropped.push({ did, rev })
          return null
        }
        if (what === 'record-mismatch' && !c.ops.some((o) => o.cid)) return frame
        altered.push({ did, rev, how: what })
        return alter(frame, what)
      },
    })
    apps = await createApps({
      root,
      redisUrl: services.redisUrl,
      databaseUrl: services.databaseUrl,
      relayHosts: [proxy.url],
      plcUrl: net.plcUrl,
      handleResolverUrl: net.pdsUrl,
      // the local network listens on 127.0.0.1: exactly that, nothing wider
      allowPrivateNetworks: LOCAL_NETWORK,
      logDir: join(root, '.local', 'logs', `sync-${process.pid}`),
      extra: {
        backfiller: {
          BACKFILLER_CLAIM_IDLE_MS: '3000',
          BACKFILLER_RETRY_INITIAL_BACKOFF_MS: '200',
          BACKFILLER_RETRY_MAX_BACKOFF_MS: '1000',
        },
        indexer: { INDEXER_CLAIM_IDLE_MS: '3000', INDEXER_CONCURRENCY_PER_SHARD: '8', INDEXER_READ_BATCH: '100', DB_POOL_MAX_SIZE: '10' },
        ingester: { INGESTER_BATCH_TIMEOUT_MS: '20', INGESTER_VERIFY: 'full' },
      },
    })
    for (const name of ['indexer', 'backfiller', 'ingester'] as AppName[]) {
      apps[name].start()
      await apps[name].waitReady()
    }
    pool = new pg.Pool({ connectionString: services.databaseUrl, max: 2 })
    pool.on('error', () => undefined)
    redis = new Redis(services.redisUrl)
    const store = new SyncStateStore({ redis })
    // the listed repos backfilled: each has a state to chain onto
    await waitFor(
      async () => (await store.getMany(activity.dids)).every((s) => s?.status === 'active'),
      60_000,
      'initial backfill set the states',
    )

    armed = true
    await activity.run(60)
    // the PDS sends a commit's frame after the write returns: on a loaded machine most of the
    // run's frames reach the proxy later, so it stays armed until it has seen most of them
    await waitFor(async () => n >= 30, 60_000, "the proxy saw the run's commits")
    armed = false
    // deletes lost in a gap: a post and a like of one actor, indexed first, deleted by commits
    // the proxy drops; the resync's snapshot no longer holds them
    const victim = activity.actors.find((a) => a.posts.length > 0 && a.likes.size > 0) ?? activity.actors.find((a) => a.posts.length > 0)
    const lost: string[] = []
    if (victim) {
      const vdid = victim.did as `did:${string}:${string}`
      const post = victim.posts[0]!
      const like = [...victim.likes.entries()][0]
      const likeUri = like ? `at://${vdid}/app.bsky.feed.like/${like[1]}` : undefined
      const wanted = [post.uriStr, ...(likeUri ? [likeUri] : [])]
      await waitFor(
        async () => (await pool!.query('SELECT uri FROM record WHERE uri = ANY($1)', [wanted])).rowCount === wanted.length,
        90_000,
        'the records to delete are indexed',
      )
      const headers = net.seed.getHeaders(vdid)
      const droppedDelete = async (del: () => Promise<unknown>) => {
        dropNext = 1
        await del()
        await waitFor(async () => dropNext === 0, 30_000, 'the delete commit dropped')
      }
      await droppedDelete(() => net!.seed.agent.app.bsky.feed.post.delete({ repo: vdid, rkey: post.rkey }, headers))
      victim.posts.shift()
      lost.push(post.uriStr)
      if (like && likeUri) {
        await droppedDelete(() => net!.seed.agent.app.bsky.feed.like.delete({ repo: vdid, rkey: like[1] }, headers))
        victim.likes.delete(like[0])
        lost.push(likeUri)
      }
    }
    expect(lost.length).toBeGreaterThan(0)
    // one more (honest) commit per repo, so that a gap left by its last commit shows
    for (const did of activity.dids) await net.seed.post(did as Parameters<LocalNetwork['seed']['post']>[0], 'after the storm')
    expect(altered.length).toBeGreaterThan(3)
    expect(dropped.length).toBeGreaterThan(3)

    // every repo's state is its head again (resynced where it broke)
    const heads = async () =>
      Promise.all(
        activity.dids.map(async (did) => {
          const r = await fetch(`${net!.pdsUrl}/xrpc/com.atproto.sync.getLatestCommit?did=${did}`).then(
            (x) => x.json() as Promise<{ rev: string }>,
          )
          return r.rev
        }),
      )
    await waitFor(
      async () => {
        const [want, have] = [await heads(), await store.getMany(activity.dids)]
        return have.every((s, i) => s?.status === 'active' && s.rev === want[i])
      },
      90_000,
      'every repo active at its head',
    )

    // Postgres holds exactly every repo's records (deletes made during a gap included)
    const truth = await readTruth(
      net.pdsUrl,
      activity.actors.map((a) => ({ did: a.did, handle: a.handle })),
    )
    let diffs: string[] = []
    await waitFor(
      async () => {
        diffs = await compareTables(pool!, truth)
        return diffs.length === 0
      },
      90_000,
      'Postgres equals every repo',
    ).catch(() => undefined)
    expect(diffs).toEqual([])
    const left = await pool.query('SELECT uri FROM record WHERE uri = ANY($1)', [lost])
    expect(left.rows, 'records deleted by dropped commits').toEqual([])
    expect(await metric(apps.indexer, 'indexer_records_reconciled_total')).toBeGreaterThanOrEqual(lost.length)

    // no altered commit reached firehose_live
    const live = await readLive(redis)
    const writtenRevs = new Set(live.filter((e) => 'rev' in e).map((e) => `${e.did} ${(e as { rev: string }).rev}`))
    for (const a of altered) expect(writtenRevs.has(`${a.did} ${a.rev}`), `${a.how} ${a.did} ${a.rev}`).toBe(false)

    // the gaps were seen and healed
    const ingester = apps.ingester
    expect(await metric(ingester, 'ingester_commits_refused_total', { reason: 'bad-signature' })).toBeGreaterThan(0)
    expect(await metric(ingester, 'ingester_commits_refused_total', { reason: 'proof-failed' })).toBeGreaterThan(0)
    expect(await metric(ingester, 'ingester_repos_desynchronized_total')).toBeGreaterThan(0)
    expect(await metric(ingester, 'ingester_resyncs_enqueued_total')).toBeGreaterThan(0)
    expect(await metric(apps.backfiller, 'backfiller_resyncs_completed_total')).toBeGreaterThan(0)
    for (const a of Object.values(apps)) expect(a.running).toBe(true)
  })
})
