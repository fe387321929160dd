/**
 * A desynchronized repo heals even when its resync never completes (dead-lettered, lost): the
 * resync lease (`<prefix>:resync:<did>`) taken with the resync expires after
 * INGESTER_RESYNC_RETRY_SECS, and the next commit of the repo enqueues one more resync.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { Registry } from '@firehose/service'
import { SyncStateStore } from '@firehose/streams'
import { createIngesterMetrics } from '../metrics.js'
import { newRedis, quietLogger, uniqueName } from '../test/helpers.js'
import { CommitGate } from './commit-gate.js'
import { SigningKeys } from './signing-keys.js'

const redis = newRedis()
afterAll(() => redis.quit())

function gate(resyncRetryMs: number) {
  const store = new SyncStateStore({ redis, keyPrefix: uniqueName('sync_state') })
  const metrics = createIngesterMetrics(new Registry())
  const enqueued: { did: string; reason: string }[] = []
  const g = new CommitGate({
    store,
    // no key can be had: every commit of an unknown or active repo is a break (`no-key`)
    keys: new SigningKeys({
      resolver: {
        resolveKey: async () => {
          throw new Error('no document')
        },
      },
    }),
    level: 'full',
    metrics: metrics.sync,
    logger: quietLogger(),
    host: 'relay.test',
    enqueueResync: (did, reason) => enqueued.push({ did, reason }),
    resyncRetryMs,
  })
  return { g, store, enqueued, metrics }
}

const body = { seq: 1, rev: '3lbrevaaaaaaa', repo: 'did:plc:healaaaaaaaaaaaaaaaaaaaa' }

describe('resync retry of a repo left desynchronized', () => {
  it('one resync per break; once its lease expired, the next commit enqueues one more', async () => {
    const { g, store, enqueued, metrics } = gate(3_600_000)
    const did = body.repo
    expect(await g.commit(did, body)).toBeNull()
    expect(enqueued).toEqual([{ did, reason: 'no-key' }])
    expect((await store.get(did))?.status).toBe('desynchronized')
    // the resync is dead-lettered: the repo stays desynchronized; commits are dropped, no new job
    expect(await g.commit(did, body)).toBeNull()
    expect(enqueued).toHaveLength(1)
    // the lease expires (as after INGESTER_RESYNC_RETRY_SECS)
    expect(await redis.pttl(store.resyncKey(did))).toBeGreaterThan(0)
    await redis.del(store.resyncKey(did))
    expect(await g.commit(did, body)).toBeNull()
    expect(await g.commit(did, body)).toBeNull()
    expect(enqueued).toEqual([
      { did, reason: 'no-key' },
      { did, reason: 'retry' },
    ])
    expect((await metrics.sync.resyncsEnqueued.get()).values.find((v) => v.labels.reason === 'retry')?.value).toBe(1)
  })

  it('a repo desynchronized before leases existed gets its resync at its next commit', async () => {
    const { g, store, enqueued } = gate(3_600_000)
    const did = 'did:plc:oldaaaaaaaaaaaaaaaaaaaaa'
    await store.set(did, { status: 'desynchronized', rev: null, data: null })
    await g.commit(did, { ...body, repo: did })
    expect(enqueued).toEqual([{ did, reason: 'retry' }])
  })

  it('INGESTER_RESYNC_RETRY_SECS=0: never retried', async () => {
    const { g, store, enqueued } = gate(0)
    const did = 'did:plc:neveraaaaaaaaaaaaaaaaaaa'
    await store.set(did, { status: 'desynchronized', rev: null, data: null })
    await g.commit(did, { ...body, repo: did })
    expect(enqueued).toEqual([])
    expect(await redis.exists(store.resyncKey(did))).toBe(0)
  })
})
