import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedis, type RedisClient } from './redis.js'
import { decodeSyncState, encodeSyncState, syncStateField, SyncStateStore, type RepoSyncState } from './sync-state.js'
import { clusterNodes } from './test/cluster-nodes.js'
import { redisUrl, uniqueName, waitFor } from './test/helpers.js'

const B32 = 'abcdefghijklmnopqrstuvwxyz234567'
const plcDid = () => `did:plc:${Array.from(randomBytes(24), (b) => B32[b & 31]).join('')}`
const dataCid = (): Uint8Array => Uint8Array.from([1, 0x71, 0x12, 0x20, ...randomBytes(32)])
const TID_CHARS = '234567abcdefghijklmnopqrstuvwxyz'
const tid = (n: bigint): string => {
  let s = ''
  for (let i = 0; i < 13; i++) {
    s = TID_CHARS[Number(n & 31n)]! + s
    n >>= 5n
  }
  return s
}
const revAt = (i: number) => tid(BigInt(Date.UTC(2025, 0, 1)) * 1000n * 1024n + BigInt(i) * 1024n)

describe('sync state encoding', () => {
  it('round-trips status, rev and data; keeps rev order in the bytes', () => {
    const states: RepoSyncState[] = [
      { status: 'active', rev: '3lon5dzeaihj2', data: dataCid() },
      { status: 'desynchronized', rev: null, data: null },
      { status: 'resyncing', rev: 'jzzzzzzzzzzzz', data: Uint8Array.from([1, 0x55, 0x12, 0x20, ...randomBytes(32)]) },
    ]
    for (const s of states) expect(decodeSyncState(encodeSyncState(s))).toEqual(s)
    expect(encodeSyncState(states[0]!).length).toBe(41)
    const a = encodeSyncState({ status: 'active', rev: revAt(1), data: null })
    const b = encodeSyncState({ status: 'active', rev: revAt(2), data: null })
    expect(Buffer.compare(a.subarray(1, 9), b.subarray(1, 9))).toBe(-1)
    expect(() => encodeSyncState({ status: 'active', rev: 'not-a-tid', data: null })).toThrow(RangeError)
  })

  it("round-trips a desynchronized repo's run of written commits (its first rev and the data it applies to)", () => {
    const states: RepoSyncState[] = [
      { status: 'desynchronized', rev: revAt(9), data: dataCid(), run: { rev: revAt(5), prevData: dataCid() } },
      {
        status: 'desynchronized',
        rev: revAt(9),
        data: dataCid(),
        run: { rev: revAt(9), prevData: Uint8Array.from([1, 0x55, 0x12, 0x20, ...randomBytes(32)]) },
      },
    ]
    for (const s of states) expect(decodeSyncState(encodeSyncState(s))).toEqual(s)
    // status, rev, the run's rev, its prevData's length and digest, the data's digest
    expect(encodeSyncState(states[0]!).length).toBe(1 + 8 + 8 + 1 + 32 + 32)
    // a run is kept for a desynchronized repo only
    expect(() => encodeSyncState({ ...states[0]!, status: 'active' })).toThrow(RangeError)
  })

  it('fields: 15 bytes for did:plc, distinct; other DIDs as text, never 15 bytes', () => {
    const dids = Array.from({ length: 1000 }, plcDid)
    const fields = new Set(dids.map((d) => syncStateField(d).toString('hex')))
    expect(fields.size).toBe(1000)
    expect(syncStateField(dids[0]!).length).toBe(15)
    expect(syncStateField('did:web:abc.com').length).toBe(16)
    expect(syncStateField('did:web:example.com').toString()).toBe('did:web:example.com')
  })
})

const storeTests = (name: string, connect: () => RedisClient) =>
  describe(`SyncStateStore (${name})`, () => {
    let redis: RedisClient
    let other: RedisClient
    beforeAll(async () => {
      redis = connect()
      other = connect()
      await waitFor(() => redis.status === 'ready' && other.status === 'ready', 20_000, 'redis ready')
    })
    afterAll(async () => {
      await redis.quit()
      await other.quit()
    })

    it('get, set, compareAndSet, delete', async () => {
      const store = new SyncStateStore({ redis, keyPrefix: uniqueName('ss'), buckets: 16 })
      const did = plcDid()
      expect(await store.get(did)).toBeNull()
      const s1: RepoSyncState = { status: 'active', rev: revAt(1), data: dataCid() }
      expect(await store.compareAndSet(did, null, s1)).toEqual({ ok: true })
      expect(await store.get(did)).toEqual(s1)
      // a second first write fails and shows what is there
      expect(await store.compareAndSet(did, null, { ...s1, rev: revAt(9) })).toEqual({ ok: false, current: s1 })
      const s2: RepoSyncState = { status: 'active', rev: revAt(2), data: dataCid() }
      expect(await store.compareAndSet(did, s1, s2)).toEqual({ ok: true })
      expect(await store.compareAndSet(did, s1, { ...s1, status: 'desynchronized' })).toEqual({ ok: false, current: s2 })
      await store.set(did, { ...s2, status: 'resyncing' })
      expect((await store.getMany([did, plcDid()])).map((s) => s?.status ?? null)).toEqual(['resyncing', null])
      expect(await store.compareAndSet(did, { ...s2, status: 'resyncing' }, null)).toEqual({ ok: true })
      expect(await store.get(did)).toBeNull()
      await store.set(did, s1)
      await store.delete(did)
      expect(await store.get(did)).toBeNull()
    })

    it('two ingesters moving the same repos through the same commits: each (did, rev) accepted once', async () => {
      const prefix = uniqueName('ss')
      const a = new SyncStateStore({ redis, keyPrefix: prefix, buckets: 8 })
      const b = new SyncStateStore({ redis: other, keyPrefix: prefix, buckets: 8 })
      const dids = Array.from({ length: 20 }, plcDid)
      const datas = dids.map(() => Array.from({ length: 31 }, dataCid))
      const accepted = new Map<string, string[]>()
      // each ingester applies every commit of every repo in order, as two relays would deliver them
      const ingest = async (store: SyncStateStore, name: string) => {
        for (let i = 1; i <= 30; i++) {
          await Promise.all(
            dids.map(async (did, d) => {
              const next: RepoSyncState = { status: 'active', rev: revAt(i), data: datas[d]![i]! }
              for (;;) {
                const cur = await store.get(did)
                // what the verifier does: rev not newer → a copy already accepted
                if (cur !== null && cur.rev !== null && cur.rev >= next.rev!) return
                const r = await store.compareAndSet(did, cur, next)
                if (r.ok) {
                  accepted.set(`${did} ${i}`, [...(accepted.get(`${did} ${i}`) ?? []), name])
                  return
                }
              }
            }),
          )
          await new Promise((r) => setImmediate(r))
        }
      }
      await Promise.all([ingest(a, 'a'), ingest(b, 'b')])
      expect(accepted.size).toBe(20 * 30)
      for (const [k, who] of accepted) expect(who.length, k).toBe(1)
      for (const [d, did] of dids.entries()) expect((await a.get(did))?.data).toEqual(datas[d]![30])
    })
  })

storeTests('single Redis', () => createRedis({ url: redisUrl() }))
storeTests('Redis Cluster', () => createRedis({ url: '', clusterNodes: clusterNodes() }))
