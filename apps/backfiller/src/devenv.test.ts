/**
 * Acceptance against a real PDS + PLC (@atproto/dev-env): every repo that `listRepos` lists is
 * backfilled and its `create` events equal the repo's records (collection, rkey, cid, record), an
 * empty repo included; deactivated and taken-down repos fail with their permanent errors, without
 * retries.
 */
import { createAccount, startNetwork, type LocalNetwork } from '@firehose/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackfiller, type Backfiller } from './backfiller.js'
import { deleteStreams, enqueue, metric, newRedis, readDlq, readEvents, testConfig, waitFor } from './test/helpers.js'

interface Rec {
  collection: string
  rkey: string
  cid: string
  record: unknown
}

async function xrpc<T>(base: string, method: string, params: Record<string, string>): Promise<T> {
  const url = new URL(`/xrpc/${method}`, base)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  const res = await fetch(url)
  if (!res.ok) throw new Error(`${method}: HTTP ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

/** The repo's records as the PDS serves them over com.atproto.repo.* (independent of getRepo). */
async function recordsOf(pds: string, did: string): Promise<Rec[]> {
  const { collections } = await xrpc<{ collections: string[] }>(pds, 'com.atproto.repo.describeRepo', { repo: did })
  const out: Rec[] = []
  for (const collection of collections) {
    const { records } = await xrpc<{ records: { uri: string; cid: string; value: unknown }[] }>(pds, 'com.atproto.repo.listRecords', {
      repo: did,
      collection,
      limit: '100',
    })
    for (const r of records) out.push({ collection, rkey: r.uri.split('/').pop() as string, cid: r.cid, record: r.value })
  }
  return out
}

const key = (r: { collection: string; rkey: string }) => `${r.collection}/${r.rkey}`

describe('backfill from a real PDS', () => {
  const redis = newRedis()
  let network: LocalNetwork
  let bf: Backfiller
  const config = testConfig({ maxRetries: 2, chunkSize: 7 })

  beforeAll(async () => {
    network = await startNetwork()
    config.plcUrl = network.plcUrl
  })
  afterAll(async () => {
    await bf?.close()
    await network?.close()
    await deleteStreams(redis, config.inStream, config.outStream)
    await redis.quit()
  })

  it('backfills every listed repo; deactivated and taken-down repos are dead-lettered at once', async () => {
    const { seed, pdsUrl } = network
    const alice = await createAccount(seed)
    const bob = await createAccount(seed)
    const empty = await createAccount(seed)
    const gone = await createAccount(seed)
    const banned = await createAccount(seed)
    await seed.updateProfile(alice.did as never, { $type: 'app.bsky.actor.profile', displayName: 'Alice', description: 'hi 🦋' })
    const posts = []
    for (let i = 0; i < 12; i++) posts.push(await seed.post(alice.did as never, `post ${i}`))
    for (const p of posts.slice(0, 5)) await seed.like(bob.did as never, p.ref)
    await seed.repost(bob.did as never, posts[0]!.ref)
    await seed.follow(bob.did as never, alice.did as never)
    await seed.post(gone.did as never, 'soon gone')
    await seed.post(banned.did as never, 'soon banned')
    const ctx = network.net.pds.ctx
    await ctx.accountManager.deactivateAccount(gone.did as never, { deleteAfter: null })
    await ctx.accountManager.takedownAccount(banned.did as never, { applied: true, ref: 'test' })

    const { repos } = await xrpc<{ repos: { did: string }[] }>(pdsUrl, 'com.atproto.sync.listRepos', { limit: '1000' })
    expect(repos.map((r) => r.did).sort()).toEqual([alice.did, bob.did, empty.did, gone.did, banned.did].sort())

    const expected = new Map<string, Rec[]>()
    for (const did of [alice.did, bob.did, empty.did]) expected.set(did, await recordsOf(pdsUrl, did))
    // an account starts with no records (or only what the PDS writes itself): that is our empty repo
    expect(expected.get(alice.did)?.length).toBeGreaterThan(12)

    bf = await startBackfiller(config)
    for (const r of repos) await enqueue(redis, config.inStream, r.did, pdsUrl)

    await waitFor(
      async () => {
        const events = await readEvents(redis, config.outStream)
        const dlq = await readDlq(redis, config.inStream)
        return events.filter((e) => e.type === 'repo').length === 3 && dlq.length === 2
      },
      30_000,
      'three repos backfilled and two dead-lettered',
    )

    const events = await readEvents(redis, config.outStream)
    for (const [did, recs] of expected) {
      const mine = events.filter((e) => e.did === did)
      const creates = mine.flatMap((e) =>
        e.type === 'create' ? [{ collection: e.collection, rkey: e.rkey, cid: e.cid, record: e.record }] : [],
      )
      expect(creates.sort((a, b) => key(a).localeCompare(key(b)))).toEqual(recs.sort((a, b) => key(a).localeCompare(key(b))))
      const repoEvents = mine.filter((e) => e.type === 'repo')
      expect(repoEvents).toHaveLength(1)
      expect(mine[mine.length - 1]?.type).toBe('repo') // the repo event closes the repo
      for (const e of mine) {
        expect(e.seq).toBe(-2)
        if (e.type === 'create' || e.type === 'repo') expect(e.rev).toBe(repoEvents[0]?.type === 'repo' ? repoEvents[0].rev : '')
      }
    }
    const dlq = await readDlq(redis, config.inStream)
    const byDid = (did: string) => dlq.find((d) => JSON.parse(d.repo ?? '{}').did === did)
    expect(byDid(gone.did)?.error).toMatch(/RepoDeactivated/)
    expect(byDid(banned.did)?.error).toMatch(/RepoTakendown/)
    expect(byDid(gone.did)?.attempts).toBe('1')
    expect(byDid(banned.did)?.attempts).toBe('1')
    expect(await metric(bf.port, 'backfiller_retries_attempted_total')).toBe(0)
    expect(await metric(bf.port, 'backfiller_repos_failed_total', { reason: 'unavailable' })).toBe(2)
    expect(await metric(bf.port, 'backfiller_records_extracted_total')).toBe([...expected.values()].reduce((n, r) => n + r.length, 0))
    expect((await fetch(`http://127.0.0.1:${bf.port}/ready`)).status).toBe(200)
    // DID documents are cached in Redis for every instance
    expect(await redis.exists(`backfiller:did:${alice.did}`)).toBe(1)
  })
})
