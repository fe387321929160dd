import { createIdResolver, type AtprotoIdResolver } from '@firehose/atproto'
import type { Logger } from '@firehose/service'
import type { HandleVerifier } from './writer/handles.js'

export interface ResolvingVerifierOptions {
  plcUrl: string
  handleResolverUrl?: string | undefined
  timeoutMs?: number
  cacheTtlMs?: number
  cacheSize?: number
  logger?: Logger
}

/**
 * Verifies a handle both ways, as the AppView does: the DID document claims the handle, and
 * the handle resolves back to the DID. Results are cached per (did, claimed handle) for a
 * while; an identity without a claimed handle (the one the indexer adds for a backfilled repo)
 * is always resolved: its event time is when the repo was fetched, so a cached answer from an
 * earlier backfill could bring back a handle changed since.
 * A resolution error leaves the stored handle untouched (`undefined`) rather than erasing it.
 */
export function resolvingHandleVerifier(opts: ResolvingVerifierOptions): HandleVerifier {
  const resolver: AtprotoIdResolver = createIdResolver({
    plcUrl: opts.plcUrl,
    timeoutMs: opts.timeoutMs ?? 5000,
    ...(opts.handleResolverUrl ? { handleResolverUrl: opts.handleResolverUrl } : {}),
  })
  const ttl = opts.cacheTtlMs ?? 60_000
  const max = opts.cacheSize ?? 50_000
  const cache = new Map<string, { at: number; value: string | null }>()
  return {
    async verify(did, claimed) {
      const key = claimed ? `${did} ${claimed}` : undefined
      const hit = key !== undefined ? cache.get(key) : undefined
      if (hit && Date.now() - hit.at < ttl) return hit.value
      let value: string | null
      try {
        const identity = await resolver.resolveRepoIdentity(did, true)
        const handle = (identity.handle ?? claimed)?.toLowerCase()
        if (!handle) value = null
        else value = (await resolver.resolveHandle(handle)) === did ? handle : null
      } catch (err) {
        opts.logger?.warn({ did, err: (err as Error).message }, 'handle verification failed: keeping the stored handle')
        return undefined
      }
      if (key === undefined) return value
      if (cache.size >= max) cache.delete(cache.keys().next().value as string)
      cache.set(key, { at: Date.now(), value })
      return value
    },
  }
}
