/**
 * Against a real PDS (`@atproto/dev-env`, PDS + PLC in-process): what the PDS sequenced is what
 * lands in `firehose_live`, exactly, in seq order per repo, with the repos' own records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CURSOR_DONE, decodeRepoJob, type StreamEvent } from '@firehose/streams'
import { createAccount, startNetwork, type LocalNetwork } from '@firehose/testkit'
import type { IngesterConfig } from './config.js'
import { startIngester, type Ingester } from './ingester.js'
import { listReposInto } from './list-repos.js'
import { createPeerFetch, createPeerPolicy, parseNetworkList } from '@firehose/atproto'
import { createIngesterMetrics } from './metrics.js'
import { newRedis, quietLogger, readEvents, readStream, testConfig, waitFor } from './test/helpers.js'
import { StreamProducer } from '@firehose/streams'
import { createRegistry } from '@firehose/service'

const redis = newRedis()
let network: LocalNetwork
let ingester: Ingester
let config: IngesterConfig
const peerFetch = createPeerFetch(createPeerPolicy(parseNetworkList('127.0.0.1/32')))

type Did = Parameters<LocalNetwork['seed']['post']>[0]

beforeAll(async () => {
  network = await startNetwork()
  config = testConfig({ INGESTER_RELAY_HOSTS: network.pdsUrl, INGESTER_WRITE_BATCH: '7', INGESTER_VERIFY: 'full', PLC_URL: network.plcUrl })
  ingester = await startIngester(config, { logger: quietLogger(), http: false })
  await waitFor(() => ingester.ready(), 10_000, 'ingester connected to the PDS')
})
afterAll(async () => {
  await ingester?.close()
  await network?.close()
  await redis.quit()
})

/** A comparable key per stream event, and per sequenced PDS event. */
function eventKey(e: StreamEvent): string {
  switch (e.type) {
    case 'create':
    case 'update':
      return `${e.seq} ${e.did} ${e.type} ${e.collection}/${e.rkey} ${e.cid}`
    case 'delete':
      return `${e.seq} ${e.did} delete ${e.collection}/${e.rkey} `
    case 'identity':
      return `${e.seq} ${e.did} identity ${e.handle ?? ''}`
    case 'account':
      return `${e.seq} ${e.did} account ${e.active} ${e.status ?? ''}`
    default:
      return `${e.seq} ${e.did} ${e.type}`
  }
}

interface SeqEvtLike {
  type: string
  seq: number
  evt: {
    repo?: string
    did?: string
    handle?: string
    active?: boolean
    status?: string
    rev?: string
    ops?: { action: string; path: string; cid: unknown }[]
  }
}

function sequencedKeys(evts: SeqEvtLike[]): { keys: string[]; syncs: { did: string; rev: string }[] } {
  const keys: string[] = []
  const syncs: { did: string; rev: string }[] = []
  for (const { type, seq, evt } of evts) {
    if (type === 'commit') {
      for (const op of evt.ops ?? []) keys.push(`${seq} ${evt.repo} ${op.action} ${op.path} ${op.cid ? String(op.cid) : ''}`)
    } else if (type === 'identity') {
      keys.push(`${seq} ${evt.did} identity ${evt.handle ?? ''}`)
    } else if (type === 'account') {
      keys.push(`${seq} ${evt.did} account ${evt.active} ${evt.status ?? ''}`)
    } else if (type === 'sync') {
      syncs.push({ did: evt.did as string, rev: evt.rev as string })
    }
  }
  return { keys, syncs }
}

const COLLECTIONS = ['app.bsky.feed.post', 'app.bsky.feed.like', 'app.bsky.graph.follow', 'app.bsky.feed.repost', 'app.bsky.actor.profile']

describe('ingesting a real PDS', () => {
  it("writes exactly the sequenced events, in seq order per repo, with the repos' records", async () => {
    const { seed, pdsUrl } = network
    const alice = (await createAccount(seed)).did as Did
    const bob = (await createAccount(seed)).did as Did
    const carol = (await createAccount(seed)).did as Did
    const headers = (did: Did) => seed.getHeaders(did)

    // profiles by hand (the seed client's avatar asset is not in the published dev-env)
    const putProfile = async (did: Did, displayName: string, withAvatar: boolean) => {
      const record: Record<string, unknown> = { $type: 'app.bsky.actor.profile', displayName, description: `${displayName}'s profile` }
      if (withAvatar) {
        const blob = await seed.agent.com.atproto.repo.uploadBlob(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4]), {
          encoding: 'image/png',
          headers: headers(did),
        })
        record.avatar = blob.data.blob
      }
      await seed.agent.com.atproto.repo.putRecord(
        { repo: did, collection: 'app.bsky.actor.profile', rkey: 'self', record },
        { encoding: 'application/json', headers: headers(did) },
      )
    }
    await putProfile(alice, 'Alice', true)
    await putProfile(bob, 'Bob', false)
    const p1 = await seed.post(alice, 'hello world')
    const p2 = await seed.post(bob, 'second post, with a facet', [
      { index: { byteStart: 0, byteEnd: 6 }, features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'second' }] },
    ])
    const p3 = await seed.post(carol, 'to be deleted')
    const like = await seed.like(bob, p1.ref)
    await seed.like(carol, p1.ref)
    await seed.follow(alice, bob)
    await seed.follow(bob, alice)
    await seed.follow(carol, alice)
    const repost = await seed.repost(carol, p2.ref)
    await seed.reply(alice, p2.ref, p2.ref, 'a reply')
    await putProfile(alice, 'Alice v2', true)
    await seed.deletePost(carol, p3.ref.uri)
    await seed.agent.app.bsky.feed.like.delete({ repo: bob, rkey: like.rkey }, headers(bob))
    await seed.agent.app.bsky.feed.repost.delete({ repo: carol, rkey: repost.uri.rkey }, headers(carol))
    await seed.unfollow(carol, alice)
    await seed.updateHandle(bob, `bob2x${process.pid % 100000}.test`)
    await seed.agent.com.atproto.server.deactivateAccount({}, { encoding: 'application/json', headers: headers(alice) })
    await seed.agent.com.atproto.server.activateAccount(undefined, { headers: headers(alice) })
    await seed.post(alice, 'back again')

    const sequencer = network.net.pds.ctx.sequencer
    const sequenced = (await sequencer.requestSeqRange({ limit: 10_000 })) as unknown as SeqEvtLike[]
    const mine = sequenced.filter((e) => [alice, bob, carol].includes((e.evt.repo ?? e.evt.did) as Did))
    const expected = sequencedKeys(mine)
    const lastSeq = Math.max(...mine.map((e) => e.seq))
    // sanity: the workload produced every kind of event
    expect(new Set(mine.map((e) => e.type))).toEqual(new Set(['commit', 'identity', 'account', 'sync']))

    const host = pdsUrl.replace('http://', '')
    await waitFor(
      async () => Number(await redis.get(`${config.firehoseStream}:cursor:${host}`)) >= lastSeq,
      20_000,
      'cursor at the last seq',
    )

    const events = (await readEvents(redis, config.firehoseStream)).filter((e) => [alice, bob, carol].includes(e.did as Did))
    expect(events.map(eventKey).sort()).toEqual(expected.keys.sort())
    expect(events.length).toBe(expected.keys.length)
    // in seq order per repo
    for (const did of [alice, bob, carol]) {
      const seqs = events.filter((e) => e.did === did).map((e) => e.seq)
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    }
    // account states include the deactivation and the reactivation
    const aliceAccount = events.filter((e) => e.did === alice && e.type === 'account')
    expect(aliceAccount.map((e) => (e.type === 'account' ? [e.active, e.status ?? null] : null))).toEqual(
      expect.arrayContaining([
        [false, 'deactivated'],
        [true, null],
      ]),
    )
    // #sync (on reactivation) became a backfill job
    const jobs = (await readStream(redis, config.repoStream)).map(([, f]) => decodeRepoJob(f.repo ?? ''))
    for (const s of expected.syncs) expect(jobs).toContainEqual({ did: s.did, host: pdsUrl, rev: s.rev })

    // the net effect of the events is the repos' current content, record for record
    for (const did of [alice, bob, carol]) {
      const state = new Map<string, { cid: string; record: unknown }>()
      for (const e of events) {
        if (e.did !== did) continue
        if (e.type === 'create' || e.type === 'update') state.set(`${e.collection}/${e.rkey}`, { cid: e.cid, record: e.record })
        if (e.type === 'delete') state.delete(`${e.collection}/${e.rkey}`)
      }
      const actual = new Map<string, { cid: string; record: unknown }>()
      for (const collection of COLLECTIONS) {
        const res = await fetch(`${pdsUrl}/xrpc/com.atproto.repo.listRecords?repo=${did}&collection=${collection}&limit=100`)
        const body = (await res.json()) as { records: { uri: string; cid: string; value: unknown }[] }
        for (const r of body.records) actual.set(r.uri.split('/').slice(3).join('/'), { cid: r.cid, record: r.value })
      }
      expect(state).toEqual(actual)
    }
    // one profile record carries a blob ref: $link inside
    const aliceProfile = events.find((e) => e.did === alice && e.type === 'create' && e.collection === 'app.bsky.actor.profile')
    expect(aliceProfile && 'record' in aliceProfile && (aliceProfile.record.avatar as { ref: { $link: string } }).ref.$link).toMatch(/^baf/)
  })

  it('lists the repos of the host into repo_backfill, page by page, and marks the listing done', async () => {
    const { seed, pdsUrl } = network
    const dave = (await createAccount(seed)).did as Did
    await seed.agent.com.atproto.server.deactivateAccount({}, { encoding: 'application/json', headers: seed.getHeaders(dave) })
    const cfg = testConfig({ INGESTER_RELAY_HOSTS: pdsUrl })
    const registry = createRegistry('ingester')
    const producer = new StreamProducer({ redis, batchSize: 10, flushIntervalMs: 10 })
    const ctx = { config: cfg, redis, producer, metrics: createIngesterMetrics(registry), logger: quietLogger() }
    await listReposInto(ctx, cfg.relayHosts[0] as string, { signal: new AbortController().signal, pageSize: 2, fetch: peerFetch })
    await producer.close()
    const listed = (await (await fetch(`${pdsUrl}/xrpc/com.atproto.sync.listRepos?limit=1000`)).json()) as {
      repos: { did: string; rev: string; active: boolean; status?: string }[]
    }
    const jobs = (await readStream(redis, cfg.repoStream)).map(([, f]) => decodeRepoJob(f.repo ?? ''))
    expect(jobs).toEqual(
      listed.repos.map((r) => ({ did: r.did, host: pdsUrl, rev: r.rev, active: r.active, ...(r.status ? { status: r.status } : {}) })),
    )
    expect(jobs.find((j) => j.did === dave)).toMatchObject({ active: false, status: 'deactivated' })
    expect(await redis.get(`${cfg.repoStream}:cursor:${pdsUrl.replace('http://', '')}`)).toBe(CURSOR_DONE)
    // a second run does nothing
    const p2 = new StreamProducer({ redis })
    await listReposInto({ ...ctx, producer: p2 }, cfg.relayHosts[0] as string, { signal: new AbortController().signal, fetch: peerFetch })
    await p2.close()
    expect(await redis.xlen(cfg.repoStream)).toBe(jobs.length)

    // the same through the ingester's INGESTER_BACKFILL_REPOS=true
    const cfg2 = testConfig({ INGESTER_RELAY_HOSTS: pdsUrl, INGESTER_BACKFILL_REPOS: 'true' })
    const ing2 = await startIngester(cfg2, { logger: quietLogger(), http: false })
    try {
      await waitFor(
        async () => (await redis.get(`${cfg2.repoStream}:cursor:${pdsUrl.replace('http://', '')}`)) === CURSOR_DONE,
        10_000,
        'listing done',
      )
      // Only the listing's jobs (they carry `active`): the live subscription runs meanwhile and
      // may enqueue a repo of its own (a #sync, or a commit it cannot read).
      const listedJobs = (await readStream(redis, cfg2.repoStream))
        .map(([, f]) => decodeRepoJob(f.repo ?? ''))
        .filter((j) => j.active !== undefined)
      expect(listedJobs.map((j) => j.did).sort()).toEqual(listed.repos.map((r) => r.did).sort())
    } finally {
      await ing2.close()
    }
  })
})
