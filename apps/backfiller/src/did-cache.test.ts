/** The Redis DID cache: only what is used is kept, the entries are bounded, a failed write is skipped. */
import type { DidDocument } from '@atproto/identity'
import { afterAll, describe, expect, it } from 'vitest'
import { DID_CACHE_INDEX, didCacheKey, RedisDidCache } from './did-cache.js'
import { didDocument } from './test/fake-network.js'
import { newRedis, randomDid } from './test/helpers.js'

const KEY = 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme'

describe('RedisDidCache', () => {
  const redis = newRedis()
  afterAll(async () => {
    await new RedisDidCache(redis, { staleTtlMs: 60_000, maxEntries: 1 }).clear()
    await redis.quit()
  })

  it('keeps pds, key and handle only, and gives back a document that resolves to them', async () => {
    const cache = new RedisDidCache(redis, { staleTtlMs: 60_000, maxEntries: 100 })
    const did = randomDid()
    const doc = { ...didDocument(did, KEY, 'https://pds.example'), junk: 'x'.repeat(10_000) } as unknown as DidDocument
    await cache.cacheDid(did, doc)
    const raw = (await redis.get(didCacheKey(did))) ?? ''
    expect(raw.length).toBeLessThan(400)
    expect(Object.keys(JSON.parse(raw)).sort()).toEqual(['handle', 'pds', 'signingKey', 'updatedAt'])
    const back = await cache.checkCache(did)
    expect(back?.doc.service?.[0]?.serviceEndpoint).toBe('https://pds.example')
    expect(back?.doc.alsoKnownAs).toEqual(doc.alsoKnownAs)
  })

  it('holds at most maxEntries DIDs, dropping the oldest', async () => {
    await redis.del(DID_CACHE_INDEX)
    const cache = new RedisDidCache(redis, { staleTtlMs: 60_000, maxEntries: 3 })
    const dids = Array.from({ length: 9 }, () => randomDid())
    for (const did of dids) await cache.cacheDid(did, didDocument(did, KEY, 'https://pds.example') as DidDocument)
    expect(await redis.zcard(DID_CACHE_INDEX)).toBe(3)
    const kept = await Promise.all(dids.map(async (d) => (await redis.exists(didCacheKey(d))) === 1))
    expect(kept).toEqual([false, false, false, false, false, false, true, true, true])
  })

  it('skips a write Redis refuses, reporting it, without failing', async () => {
    const broken = newRedis()
    broken.disconnect()
    const failures: string[] = []
    const cache = new RedisDidCache(broken, { staleTtlMs: 60_000, maxEntries: 10, onWriteFailed: (e) => failures.push(e.message) })
    const did = randomDid()
    await expect(cache.cacheDid(did, didDocument(did, KEY, 'https://pds.example') as DidDocument)).resolves.toBeUndefined()
    expect(failures).toHaveLength(1)
  })
})
