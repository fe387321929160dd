/**
 * Where to fetch a repo and which key must have signed it: the DID document (did:plc via PLC_URL,
 * did:web) through @firehose/atproto's resolver and the peer fetch (outgoing-request policy,
 * documents bounded by BACKFILLER_MAX_DOCUMENT_BYTES), behind the Redis cache shared by all
 * instances. When the document names no PDS, the job's `host` is used; a document without a
 * signing key cannot be verified and fails.
 */
import { getKey } from '@atproto/identity'
import { createIdResolver, hostBaseUrl, IdentityError, type AtprotoIdResolver, type PeerFetch } from '@firehose/atproto'
import type { RedisClient } from '@firehose/streams'
import { RedisDidCache } from './did-cache.js'

export interface RepoSource {
  /** base URL to fetch getRepo from */
  service: string
  signingKey: string
}

export interface RepoIdentityResolver {
  /** `fresh`: skip the cache (a retry after a failed verification may follow a key rotation). */
  resolve(did: string, fallbackHost: string, fresh: boolean): Promise<RepoSource>
}

export interface RepoIdentityOptions {
  redis: RedisClient
  plcUrl: string
  timeoutMs: number
  cacheTtlMs: number
  cacheMaxEntries: number
  /** the peer fetch for PLC and did:web hosts */
  fetch: PeerFetch
  onCacheWriteFailed: (err: Error) => void
}

export function createRepoIdentityResolver(opts: RepoIdentityOptions): RepoIdentityResolver {
  const resolver: AtprotoIdResolver = createIdResolver({
    plcUrl: opts.plcUrl,
    timeoutMs: opts.timeoutMs,
    fetch: opts.fetch,
    didCache: new RedisDidCache(opts.redis, {
      staleTtlMs: opts.cacheTtlMs,
      maxEntries: opts.cacheMaxEntries,
      onWriteFailed: opts.onCacheWriteFailed,
    }),
  })
  return {
    async resolve(did, fallbackHost, fresh) {
      try {
        const id = await resolver.resolveRepoIdentity(did, fresh)
        return { service: id.pds, signingKey: id.signingKey }
      } catch (err) {
        if (!(err instanceof IdentityError) || err.reason !== 'no-pds' || !fallbackHost) throw err
        const doc = await resolver.idResolver.did.resolve(did)
        const signingKey = doc ? getKey(doc) : undefined
        if (!signingKey) throw new IdentityError(did, 'no-key', `${did} has no #atproto signing key`)
        return { service: hostToUrl(fallbackHost), signingKey }
      }
    },
  }
}

/** A job's `host`: a URL, or a bare host name meaning https (left as it is when it is no URL: its fetch fails). */
export function hostToUrl(host: string): string {
  try {
    return hostBaseUrl(host, 'http')
  } catch {
    return host
  }
}
