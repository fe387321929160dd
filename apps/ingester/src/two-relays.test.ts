/**
 * Several relays, one write: two ingesters (as on two hosts) read the same real PDS through two
 * relays (`RelayProxy`), at INGESTER_VERIFY=full, into one `firehose_live` and one sync state.
 * Every commit the PDS made is written once: the sync state's compare-and-set lets one copy
 * through; the other is dropped (`rev-not-newer` or `duplicate`). Each relay has its own cursor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CursorStore, cursorHost, type StreamEvent } from '@firehose/streams'
import { Activity, RelayProxy, startNetwork, type LocalNetwork } from '@firehose/testkit'
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
    const prefix = configs[0]!.syncStatePrefix
    const claims: string[] = []
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      for (const key of keys) {
        if (key.includes(':resync:')) continue
        const fields = await redis.hkeysBuffer(key)
        // a claim's field starts with byte 0x01 (packages/streams/src/sync-state.ts)
        for (const f of fields) if (f[0] === 1) claims.push(`${key} ${f.toString('hex')}`)
      }
    } while (cursor !== '0')
    expect(claims).toEqual([])
  })
})
