/**
 * A DID document cache for @atproto/identity kept in Redis, so that every backfiller instance
 * shares it: key `backfiller:did:<did>` = JSON `{ doc, updatedAt }`. A document older than
 * `staleTtlMs` is refreshed in the background on use; one older than `maxTtlMs` is resolved again
 * before use (Redis expires it after that).
 */
import type { CacheResult, DidCache, DidDocument } from '@atproto/identity'
import type { RedisClient } from '@firehose/streams'

export const didCacheKey = (did: string): string => `backfiller:did:${did}`

export class RedisDidCache implements DidCache {
  constructor(
    private readonly redis: RedisClient,
    private readonly staleTtlMs: number,
    private readonly maxTtlMs: number = staleTtlMs * 24,
  ) {}

  async cacheDid(did: string, doc: DidDocument): Promise<void> {
    await this.redis.set(didCacheKey(did), JSON.stringify({ doc, updatedAt: Date.now() }), 'PX', this.maxTtlMs)
  }

  async refreshCache(did: string, getDoc: () => Promise<DidDocument | null>): Promise<void> {
    const doc = await getDoc()
    if (doc) await this.cacheDid(did, doc)
  }

  async checkCache(did: string): Promise<CacheResult | null> {
    let raw: string | null
    try {
      raw = await this.redis.get(didCacheKey(did))
    } catch {
      return null // a cache that cannot answer is a miss, not a failure
    }
    if (!raw) return null
    try {
      const { doc, updatedAt } = JSON.parse(raw) as { doc: DidDocument; updatedAt: number }
      const age = Date.now() - updatedAt
      return { did, doc, updatedAt, stale: age > this.staleTtlMs, expired: age > this.maxTtlMs }
    } catch {
      return null
    }
  }

  async clearEntry(did: string): Promise<void> {
    await this.redis.del(didCacheKey(did))
  }

  /** Only this cache's keys (SCAN, never KEYS). */
  async clear(): Promise<void> {
    let cursor = '0'
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', didCacheKey('*'), 'COUNT', 500)
      cursor = next
      if (keys.length > 0) await this.redis.del(...keys)
    } while (cursor !== '0')
  }
}
