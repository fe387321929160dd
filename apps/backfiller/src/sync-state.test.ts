/** After a backfill, the repo's sync state (real Redis): the snapshot's, unless live is ahead. */
import { afterAll, describe, expect, it } from 'vitest'
import { createLogger, createRegistry, Counter } from '@firehose/service'
import { createRedis, SyncStateStore } from '@firehose/streams'
import { cidStringToBytes, completeRepoSync, SnapshotBehindError } from './sync-state.js'
import { randomDid, redisUrl, uniqueName } from './test/helpers.js'

const redis = createRedis({ url: redisUrl() })
afterAll(async () => {
  await redis.quit()
})

const DATA = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'
const OTHER = 'bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'

describe('completeRepoSync', () => {
  const store = new SyncStateStore({ redis, keyPrefix: uniqueName('sync_state') })
  const completed = new Counter({ name: 'test_resyncs_completed_total', help: 'x', registers: [createRegistry('t')] })
  const c = { store, completed, logger: createLogger('test', 'silent') }

  it('sets the snapshot state; a desynchronized repo is resynced; a state ahead is kept', async () => {
    const did = randomDid()
    expect(cidStringToBytes(DATA)?.length).toBe(36)
    expect(await completeRepoSync(c, did, '3n3aaaaaaaa22', DATA)).toBe('set')
    expect(await store.get(did)).toEqual({ status: 'active', rev: '3n3aaaaaaaa22', data: cidStringToBytes(DATA) })
    // live moved on: an older snapshot delivered late leaves it alone
    await store.set(did, { status: 'active', rev: '3n3aaaaaaaz22', data: cidStringToBytes(OTHER)! })
    expect(await completeRepoSync(c, did, '3n3aaaaaaab22', DATA)).toBe('kept')
    expect((await store.get(did))?.rev).toBe('3n3aaaaaaaz22')
    // a break: desynchronized, then the resync's snapshot makes it active again
    await store.set(did, { status: 'desynchronized', rev: '3n3aaaaaaaz22', data: cidStringToBytes(OTHER)! })
    expect(await completeRepoSync(c, did, '3n3aaaaaab222', DATA)).toBe('resynced')
    expect(await store.get(did)).toEqual({ status: 'active', rev: '3n3aaaaaab222', data: cidStringToBytes(DATA) })
    expect((await completed.get()).values[0]?.value).toBe(1)
    expect(await completeRepoSync(c, did, '3n3aaaaaac222', undefined)).toBe('no-data')
  })

  it('a snapshot older than a commit dropped while the repo was desynchronized does not end the resync', async () => {
    // The ingesters drop a desynchronized repo's commits and keep the newest one's rev in its
    // state; a resync fetched before that commit was made misses it, and making the repo active
    // at its snapshot would have lost it for good (its next commit, if any, chains on it).
    const did = randomDid()
    await store.set(did, { status: 'desynchronized', rev: '3n3aaaaaaaz22', data: cidStringToBytes(OTHER)! })
    await expect(completeRepoSync(c, did, '3n3aaaaaaab22', DATA)).rejects.toBeInstanceOf(SnapshotBehindError)
    expect((await store.get(did))?.status).toBe('desynchronized')
    // the retry's snapshot holds it
    expect(await completeRepoSync(c, did, '3n3aaaaaaaz22', DATA)).toBe('resynced')
    expect((await store.get(did))?.status).toBe('active')
  })

  it("a busy repo heals: a snapshot older than the commits written meanwhile completes at their run's end when it reaches the run's start", async () => {
    // A repo that commits faster than its CAR can be fetched and verified had every snapshot
    // behind its newest commit: each attempt failed as snapshot_behind until the job was
    // dead-lettered, and the repo stayed desynchronized for good. The ingesters now write the
    // commits that verify on their own and chain onto each other, as a run in the state.
    const did = randomDid()
    const first = '3n3aaaaaaam22'
    const last = '3n3aaaaaaaz22'
    const before = cidStringToBytes(DATA)!
    const end = cidStringToBytes(OTHER)!
    const state = { status: 'desynchronized' as const, rev: last, data: end, run: { rev: first, prevData: before } }
    // the claim of the run's last commit (its write not yet confirmed) stays
    await store.compareAndSet(did, null, state, 'ingester-a')
    // a snapshot short of the run (older than its first commit, other data): still behind
    await expect(completeRepoSync(c, did, '3n3aaaaaaab22', OTHER)).rejects.toBeInstanceOf(SnapshotBehindError)
    // exactly the data the run's first commit applies to: active at the run's end
    expect(await completeRepoSync(c, did, '3n3aaaaaaac22', DATA)).toBe('resynced')
    expect(await store.get(did)).toEqual({ status: 'active', rev: last, data: end })
    expect(await store.claimOf(did)).toBe('ingester-a')
    // its confirmation still removes it (same rev, the status changed)
    expect(await store.confirm(did, state, 'ingester-a')).toBe(true)
    expect(await store.claimOf(did)).toBeNull()

    // a snapshot inside the run (at or past its first commit): active at the run's end too
    const other = randomDid()
    await store.set(other, state)
    expect(await completeRepoSync(c, other, '3n3aaaaaaaq22', OTHER)).toBe('resynced')
    expect(await store.get(other)).toEqual({ status: 'active', rev: last, data: end })
  })
})
