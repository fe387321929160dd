/**
 * Repos' current atproto signing keys, from their DID documents (`@firehose/atproto`'s identity
 * resolver: PLC or did:web), kept in a bounded LRU with a TTL. `#identity` for a DID drops its
 * entry (the key may have rotated); a commit whose signature fails is checked once more against a
 * freshly resolved key (`get(did, true)`). Concurrent look-ups of one DID share one request.
 */
import { createIdResolver, signingKeyFromDidKey, type PeerFetch, type SigningKey } from '@firehose/atproto'
import type { Counter } from '@firehose/service'

export interface KeyResolver {
  /** the DID's `#atproto` did:key; throws when the document cannot be had or has no key */
  resolveKey(did: string, fresh: boolean): Promise<string>
}

/** `fetch`: the peer fetch for DID documents (outgoing-request policy); default the global fetch */
export const plcKeyResolver = (plcUrl: string, fetch?: PeerFetch, timeoutMs = 10_000): KeyResolver => {
  const resolver = createIdResolver({ plcUrl, timeoutMs, ...(fetch ? { fetch } : {}) })
  return { resolveKey: async (did, fresh) => (await resolver.resolveRepoIdentity(did, fresh)).signingKey }
}

export interface SigningKeysOptions {
  resolver: KeyResolver
  /** entries kept (default 200k) */
  maxEntries?: number
  /** an entry older than this is resolved again (default 1 h) */
  ttlMs?: number
  resolutions?: Counter<'outcome'>
}

interface Entry {
  key: SigningKey
  at: number
}

export class SigningKeys {
  private readonly cache = new Map<string, Entry>()
  private readonly pending = new Map<string, Promise<SigningKey>>()
  private readonly max: number
  private readonly ttlMs: number

  constructor(private readonly opts: SigningKeysOptions) {
    this.max = opts.maxEntries ?? 200_000
    this.ttlMs = opts.ttlMs ?? 3_600_000
  }

  get size(): number {
    return this.cache.size
  }

  /** The DID's signing key; `fresh` skips the cache (and the resolver's own cache). */
  async get(did: string, fresh = false): Promise<SigningKey> {
    if (!fresh) {
      const hit = this.cache.get(did)
      if (hit && Date.now() - hit.at < this.ttlMs) {
        // LRU: most recently used last
        this.cache.delete(did)
        this.cache.set(did, hit)
        return hit.key
      }
      const inflight = this.pending.get(did)
      if (inflight) return inflight
    }
    const p = this.resolve(did, fresh)
    this.pending.set(did, p)
    try {
      return await p
    } finally {
      if (this.pending.get(did) === p) this.pending.delete(did)
    }
  }

  /** `#identity`: the key may have changed. */
  invalidate(did: string): void {
    this.cache.delete(did)
  }

  private async resolve(did: string, fresh: boolean): Promise<SigningKey> {
    let key: SigningKey
    try {
      key = signingKeyFromDidKey(await this.opts.resolver.resolveKey(did, fresh))
    } catch (err) {
      this.opts.resolutions?.inc({ outcome: 'error' })
      throw err
    }
    this.opts.resolutions?.inc({ outcome: 'ok' })
    this.cache.delete(did)
    this.cache.set(did, { key, at: Date.now() })
    while (this.cache.size > this.max) {
      const oldest = this.cache.keys().next().value
      if (oldest === undefined) break
      this.cache.delete(oldest)
    }
    return key
  }
}
