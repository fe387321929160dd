import { createIdResolver, type AtprotoIdResolver, type PeerFetch } from '@firehose/atproto'
import type { Logger } from '@firehose/service'
import type { IdentityMetrics } from './identity-metrics.js'
import type { HandleVerifier } from './writer/handles.js'

export interface ResolvingVerifierOptions {
  plcUrl: string
  handleResolverUrl?: string | undefined
  /** the fetch for PLC, did:web and handle hosts: a peer fetch (outgoing-request policy); default the global fetch */
  fetch?: PeerFetch
  /** Each request's timeout (HTTP, DNS), and the deadline of one whole verification. */
  timeoutMs?: number
  cacheTtlMs?: number
  cacheSize?: number
  logger?: Logger
  metrics?: IdentityMetrics
}

class LookupTimeout extends Error {
  override name = 'LookupTimeout'
}

/** `promise`, or a LookupTimeout after `ms` (the lookup is left to its own request timeouts). */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LookupTimeout(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/**
 * Verifies a handle both ways, as the AppView does: the DID document claims the handle, and
 * the handle resolves back to the DID. Results are cached per (did, claimed handle) for a
 * while (at most `cacheSize` entries, the oldest dropped first); an identity without a claimed
 * handle (the one the indexer adds for a backfilled repo) is always resolved: its event time is
 * when the repo was fetched, so a cached answer from an earlier backfill could bring back a
 * handle changed since. A whole verification has `timeoutMs` (each request too, DNS included).
 * A resolution error or timeout leaves the stored handle untouched (`undefined`) rather than
 * erasing it. `peek` answers from the cache only: the writer does not wait for lookups.
 */
export function resolvingHandleVerifier(opts: ResolvingVerifierOptions): HandleVerifier {
  const timeoutMs = opts.timeoutMs ?? 5000
  const resolver: AtprotoIdResolver = createIdResolver({
    plcUrl: opts.plcUrl,
    timeoutMs,
    ...(opts.handleResolverUrl ? { handleResolverUrl: opts.handleResolverUrl } : {}),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  })
  const ttl = opts.cacheTtlMs ?? 60_000
  const max = opts.cacheSize ?? 50_000
  const cache = new Map<string, { at: number; value: string | null }>()
  const m = opts.metrics
  const cached = (did: string, claimed: string | undefined): { value: string | null } | undefined => {
    if (!claimed) return undefined
    const hit = cache.get(`${did} ${claimed}`)
    return hit !== undefined && Date.now() - hit.at < ttl ? hit : undefined
  }
  const lookup = async (did: string, claimed: string | undefined): Promise<string | null> => {
    const identity = await resolver.resolveRepoIdentity(did, true)
    const handle = (identity.handle ?? claimed)?.toLowerCase()
    if (!handle) {
      opts.logger?.info({ did, claimed }, 'handle not verified: the DID document names no handle')
      return null
    }
    const resolved = await resolver.resolveHandle(handle)
    if (resolved === did) return handle
    opts.logger?.info({ did, claimed, handle, resolvedTo: resolved ?? null }, 'handle not verified: it does not resolve to the DID')
    return null
  }
  return {
    peek(did, claimed) {
      const hit = cached(did, claimed)
      m?.cache.inc({ result: hit ? 'hit' : 'miss' })
      return hit
    },
    async verify(did, claimed) {
      const hit = cached(did, claimed)
      if (hit) return hit.value
      const end = m?.lookupDuration.startTimer()
      let value: string | null
      try {
        value = await within(lookup(did, claimed), timeoutMs)
        m?.lookups.inc({ outcome: 'ok' })
      } catch (err) {
        const timeout = err instanceof LookupTimeout
        m?.lookups.inc({ outcome: timeout ? 'timeout' : 'error' })
        opts.logger?.warn({ did, timeout, err: (err as Error).message }, 'handle verification failed: keeping the stored handle')
        return undefined
      } finally {
        end?.()
      }
      if (!claimed) return value
      if (cache.size >= max) cache.delete(cache.keys().next().value as string)
      cache.delete(`${did} ${claimed}`)
      cache.set(`${did} ${claimed}`, { at: Date.now(), value })
      return value
    },
  }
}
