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
})
