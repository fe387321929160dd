/**
 * Several relays, one write: two ingesters (as on two hosts) read the same real PDS through two
 * relays (`RelayProxy`), at INGESTER_VERIFY=full, into one `firehose_live` and one sync state.
 * Every commit the PDS made is written once: the sync state's compare-and-set lets one copy
 * through; the other is dropped (`rev-not-newer` or `duplicate`). Each relay has its own cursor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CursorStore, cursorHost, SyncStateStore, type StreamEvent } from '@firehose/streams'
import { Activity, RelayProxy, listRepos, startNetwork, type LocalNetwork } from '@firehose/testkit'
import { createRegistry } from '@firehose/service'
import type { IngesterConfig } from './config.js'
import { startIngester, type Ingester } from './ingester.js'
import { metricValue, newRedis, quietLogger, readEvents, testConfig, waitFor } from './test/helpers.js'

const redis = newRedis()
let network: LocalNetwork
let proxies: RelayProxy[] = []
const ingesters: Ingester[] = []
let configs: IngesterConfig[] = []

beforeAll(async () => {
  network = await startNetwork()
  const upstream = network.pdsUrl.replace(/^http/, 'ws')
  proxies = [await RelayProxy.start({ upstream }), await RelayProxy.start({ upstream })]
  const shared = testConfig({ INGESTER_RELAY_HOSTS: proxies[0]!.url })
  configs = proxies.map((p) => ({ ...shared, relayHosts: [p.url], verify: 'full', plcUrl: network.plcUrl }))
  for (const c of configs)
    ingesters.push(await startIngester(c, { logger: quietLogger(), http: false, registry: createRegistry('ingester') }))
  for (const i of ingesters) await waitFor(() => i.ready(), 10_000, 'ingester connected')
})
afterAll(async () => {
  for (const i of ingesters) await i.close()
  for (const p of proxies) await p.close()
  await network?.close()
  await redis.quit()
})

describe('two relays carrying the same PDS', () => {
  it('write each commit to firehose_live once, and keep a cursor each', async () => {
    const activity = new Activity(network.seed, 3)
    await activity.createAccounts(3)
    await activity.run(40)
    const stream = configs[0]!.firehoseStream
    // every commit the PDS sequenced, by (did, rev)
    const seqEvts = (await network.net.pds.ctx.sequencer.requestSeqRange({ limit: 10_000 })) as unknown as {
      type: string
      evt: { repo?: string; rev?: string; ops?: unknown[] }
    }[]
    const commits = seqEvts.filter((e) => e.type === 'commit' && (e.evt.ops?.length ?? 0) > 0).map((e) => `${e.evt.repo} ${e.evt.rev}`)
    const opsOf = new Map(seqEvts.filter((e) => e.type === 'commit').map((e) => [`${e.evt.repo} ${e.evt.rev}`, e.evt.ops?.length ?? 0]))
    const commitEvents = (es: StreamEvent[]) =>
      es.filter((e): e is Extract<StreamEvent, { rev: string }> => e.type === 'create' || e.type === 'update' || e.type === 'delete')
    await waitFor(
      async () => new Set(commitEvents(await readEvents(redis, stream)).map((e) => `${e.did} ${e.rev}`)).size >= commits.length,
      30_000,
      'every commit written',
    )
    // both ingesters are past the last seq: any second copy would be written by now
    await new Promise((r) => setTimeout(r, 1000))
    const events = commitEvents(await readEvents(redis, stream))
    const perCommit = new Map<string, number>()
    for (const e of events) perCommit.set(`${e.did} ${e.rev}`, (perCommit.get(`${e.did} ${e.rev}`) ?? 0) + 1)
    expect([...perCommit.keys()].sort()).toEqual([...new Set(commits)].sort())
    for (const [k, n] of perCommit) expect(n, k).toBe(opsOf.get(k))
    // the second copies were seen and dropped
    let dropped = 0
    for (const i of ingesters) {
      const text = await i.registry.metrics()
      dropped +=
        metricValue(text, 'ingester_commits_refused_total', { reason: 'rev-not-newer' }) +
        metricValue(text, 'ingester_commits_dropped_total', { reason: 'duplicate' })
    }
    expect(dropped).toBeGreaterThanOrEqual(commits.length)
    // a cursor per relay
    const cursors = new CursorStore(redis, stream)
    for (const p of proxies) expect(await cursors.getNumber(cursorHost(p.url))).toBeGreaterThan(0)
  })

  it('leave no unconfirmed claim behind when closed', async () => {
    const activity = new Activity(network.seed, 4)
    await activity.createAccounts(2)
    const before = await redis.xlen(configs[0]!.firehoseStream)
    const running = activity.run(40)
    await waitFor(async () => (await redis.xlen(configs[0]!.firehoseStream)) > before + 10, 20_000, 'commits flowing')
    // closed while commits are in flight: each accepted write is confirmed before Redis is closed
    await Promise.all(ingesters.splice(0).map((i) => i.close()))
    await running
    // asked of the store for every repo of the PDS: the bucket's fields are not told apart by
    // their first byte (a did:plc's 15-byte state field may start with the claim tag, 0x01:
    // did:plc:afq5abtqy5poijivp47x6tb2's does, and a test that read it as a claim failed 1 run in 13)
    const store = new SyncStateStore({ redis, keyPrefix: configs[0]!.syncStatePrefix })
    const dids = (await listRepos(network.pdsUrl)).map((r) => r.did)
    const states = await store.getMany(dids)
    expect(states.filter((s) => s !== null).length).toBeGreaterThanOrEqual(activity.dids.length)
    const claims: string[] = []
    for (const did of dids) {
      const claim = await store.claimOf(did)
      if (claim !== null) claims.push(`${did} ${claim}`)
    }
    expect(claims).toEqual([])
  })
})
