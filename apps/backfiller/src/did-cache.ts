/**
 * A DID cache for @atproto/identity kept in Redis, so that every backfiller instance shares it.
 * It keeps only what the backfiller uses, never the peer's whole document: key
 * `backfiller:did:<did>` = JSON `{ pds, signingKey, handle, updatedAt }` (a few hundred bytes),
 * rebuilt into a minimal DID document on read. An entry older than `staleTtlMs` is refreshed on
 * use; one older than `maxTtlMs` is resolved again (Redis expires it then).
 *
 * Bounded: the index `backfiller:did-index` (sorted set, by write time) holds at most `maxEntries`
 * DIDs; the oldest beyond that are dropped. A cache that cannot be written (Redis at maxmemory,
 * down) is skipped with `onWriteFailed`: the repo goes on with the document it has.
 */
import { getHandle, getKey, getPds, type CacheResult, type DidCache, type DidDocument } from '@atproto/identity'
import type { RedisClient } from '@firehose/streams'

export const didCacheKey = (did: string): string => `backfiller:did:${did}`
export const DID_CACHE_INDEX = 'backfiller:did-index'

/** What is stored per DID. */
export interface CachedIdentity {
  pds?: string
  signingKey?: string
  handle?: string
  updatedAt: number
}

export interface RedisDidCacheOptions {
  staleTtlMs: number
  /** default: twice `staleTtlMs` */
  maxTtlMs?: number
  maxEntries: number
  onWriteFailed?: (err: Error) => void
}

export class RedisDidCache implements DidCache {
  private readonly staleTtlMs: number
  private readonly maxTtlMs: number
  private writes = 0

  constructor(
    private readonly redis: RedisClient,
    private readonly o: RedisDidCacheOptions,
  ) {
    this.staleTtlMs = o.staleTtlMs
    this.maxTtlMs = o.maxTtlMs ?? o.staleTtlMs * 2
  }

  async cacheDid(did: string, doc: DidDocument): Promise<void> {
    const entry = slim(doc)
    try {
      await this.redis.set(didCacheKey(did), JSON.stringify(entry), 'PX', this.maxTtlMs)
      await this.redis.zadd(DID_CACHE_INDEX, entry.updatedAt, did)
      // trim now and then: every write when the bound is small, else every 64th
      if (++this.writes % Math.min(64, this.o.maxEntries) === 0) await this.trim()
    } catch (err) {
      this.o.onWriteFailed?.(err as Error)
    }
  }

  async refreshCache(did: string, getDoc: () => Promise<DidDocument | null>): Promise<void> {
    let doc: DidDocument | null
    try {
      doc = await getDoc()
    } catch {
      return // the stale entry serves until it expires
    }
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
      const entry = JSON.parse(raw) as CachedIdentity
      if (typeof entry.updatedAt !== 'number') return null
      const age = Date.now() - entry.updatedAt
      return { did, doc: rebuild(did, entry), updatedAt: entry.updatedAt, stale: age > this.staleTtlMs, expired: age > this.maxTtlMs }
    } catch {
      return null
    }
  }

  async clearEntry(did: string): Promise<void> {
    try {
      await this.redis.del(didCacheKey(did))
      await this.redis.zrem(DID_CACHE_INDEX, did)
    } catch (err) {
      this.o.onWriteFailed?.(err as Error)
    }
  }

  /** Drop expired index members, then the oldest DIDs beyond `maxEntries` (one DEL each: cluster-safe). */
  async trim(): Promise<void> {
    await this.redis.zremrangebyscore(DID_CACHE_INDEX, '-inf', Date.now() - this.maxTtlMs)
    const excess = (await this.redis.zcard(DID_CACHE_INDEX)) - this.o.maxEntries
    if (excess <= 0) return
    const popped = (await this.redis.zpopmin(DID_CACHE_INDEX, excess)) as string[]
    for (let i = 0; i < popped.length; i += 2) await this.redis.del(didCacheKey(popped[i] as string))
  }

  /** Only this cache's keys (SCAN, never KEYS). */
  async clear(): Promise<void> {
    let cursor = '0'
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', didCacheKey('*'), 'COUNT', 500)
      cursor = next
      for (const key of keys) await this.redis.del(key)
    } while (cursor !== '0')
    await this.redis.del(DID_CACHE_INDEX)
  }
}

/** The parts of a document the backfiller uses. */
export function slim(doc: DidDocument): CachedIdentity {
  let signingKey: string | undefined
  try {
    signingKey = getKey(doc)
  } catch {
    signingKey = undefined // a malformed key: cached as none (the repo fails with no-key)
  }
  const pds = getPds(doc)
  const handle = getHandle(doc)
  return {
    ...(pds !== undefined ? { pds } : {}),
    ...(signingKey !== undefined ? { signingKey } : {}),
    ...(handle !== undefined ? { handle } : {}),
    updatedAt: Date.now(),
  }
}

/** A minimal DID document holding just the cached parts (what getPds/getKey/getHandle read). */
export function rebuild(did: string, e: CachedIdentity): DidDocument {
  return {
    id: did,
    ...(e.handle !== undefined ? { alsoKnownAs: [`at://${e.handle}`] } : {}),
    ...(e.signingKey?.startsWith('did:key:')
      ? {
          verificationMethod: [
            { id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: e.signingKey.slice('did:key:'.length) },
          ],
        }
      : {}),
    ...(e.pds !== undefined ? { service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: e.pds }] } : {}),
  }
}
