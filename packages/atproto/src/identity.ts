/**
 * DID → PDS endpoint and signing key, around @atproto/identity's `IdResolver`.
 *
 * @atproto/identity's default fetch is SSRF-protected and refuses `http:` URLs, which local test
 * networks (PLC, PDS, did:web on localhost) need; so by default the resolver is given the plain
 * global `fetch` (`ssrfProtection: true` restores the package default). Caching is left to the
 * apps (pass a `didCache` to share one).
 */
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { getDidKeyFromMultibase, getHandle, getKey, getPds, IdResolver, type DidCache, type DidDocument } from '@atproto/identity'
import { IdentityError } from './errors.js'
import { BoundedHandleResolver } from './handle-dns.js'
import { peerFailure } from './net/describe.js'

export interface IdResolverOptions {
  /** PLC directory base URL, e.g. `https://plc.directory` or `http://localhost:2582` */
  plcUrl: string
  /** per-request timeout */
  timeoutMs: number
  /**
   * Resolve handles by asking this service's `/.well-known/atproto-did` with `Host: <handle>`
   * (local test networks). Unset: DNS TXT, then `https://<handle>/.well-known/atproto-did`.
   */
  handleResolverUrl?: string
  /** keep @atproto/identity's SSRF-protected fetch (refuses http: and private addresses) */
  ssrfProtection?: boolean
  /**
   * The fetch for PLC, did:web and handle hosts: give a peer fetch (net/peer-fetch.ts) to apply
   * the outgoing-request policy and bound documents. Default: the global fetch (no policy).
   */
  fetch?: typeof globalThis.fetch
  didCache?: DidCache
}

export interface RepoIdentity {
  did: string
  /** the `#atproto_pds` service endpoint URL */
  pds: string
  /** the atproto signing key, as a did:key */
  signingKey: string
  /** the handle claimed by the DID document (not checked against the handle's own resolution) */
  handle?: string
}

export interface AtprotoIdResolver {
  readonly idResolver: IdResolver
  /** Throws `IdentityError` when the DID does not resolve or its document lacks a PDS or key. */
  resolveRepoIdentity(did: string, forceRefresh?: boolean): Promise<RepoIdentity>
  /** The DID a handle resolves to, or undefined when it resolves to none; throws when the resolver
   * (HANDLE_RESOLVER_URL) fails. Without one, @atproto/identity answers undefined for both. */
  resolveHandle(handle: string): Promise<string | undefined>
  /**
   * The labeler key (`#atproto_label` verification method) of a DID, as a did:key. Throws
   * `IdentityError` when the DID does not resolve or has no such key.
   */
  resolveLabelerKey(did: string, forceRefresh?: boolean): Promise<string>
}

export const createIdResolver = (options: IdResolverOptions): AtprotoIdResolver => {
  const idResolver = new IdResolver({
    plcUrl: options.plcUrl,
    timeout: options.timeoutMs,
    ...(options.didCache ? { didCache: options.didCache } : {}),
    ...(options.ssrfProtection ? {} : { fetch: options.fetch ?? globalThis.fetch }),
  })
  idResolver.handle = new BoundedHandleResolver(idResolver.handle, options.timeoutMs)
  const handleResolverUrl = options.handleResolverUrl

  const resolveRepoIdentity = async (did: string, forceRefresh = false): Promise<RepoIdentity> => {
    if (!did.startsWith('did:')) throw new IdentityError(did, 'bad-did', `not a DID: ${did}`)
    let doc: DidDocument | null
    try {
      doc = await idResolver.did.resolve(did, forceRefresh)
    } catch (err) {
      // our words only: the peer's status text or body never reaches logs or the DLQ
      const status = (err as { status?: unknown }).status
      const why =
        err instanceof SyntaxError ? 'not a JSON document' : typeof status === 'number' ? `HTTP ${status}` : peerFailure(err).message
      throw new IdentityError(did, 'resolve-failed', `could not resolve ${did}: ${why}`, { cause: err })
    }
    if (doc === null) throw new IdentityError(did, 'not-found', `${did} not found`)
    const pds = getPds(doc)
    if (pds === undefined) throw new IdentityError(did, 'no-pds', `${did} has no #atproto_pds service`)
    let signingKey: string | undefined
    try {
      signingKey = getKey(doc)
    } catch (err) {
      throw new IdentityError(did, 'no-key', `${did} has a malformed #atproto key`, { cause: err })
    }
    if (signingKey === undefined) throw new IdentityError(did, 'no-key', `${did} has no #atproto signing key`)
    const handle = getHandle(doc)
    return handle === undefined ? { did, pds, signingKey } : { did, pds, signingKey, handle }
  }

  const resolveHandle = async (handle: string): Promise<string | undefined> => {
    if (handleResolverUrl === undefined) return idResolver.handle.resolve(handle)
    const url = new URL('/.well-known/atproto-did', handleResolverUrl)
    let body: string
    try {
      body = await getWithHost(url, handle, options.timeoutMs)
    } catch (err) {
      // A 4xx says the handle has no DID there; anything else (a timeout, a reset, a 5xx) says
      // nothing about the handle, and must not be taken for "invalid": it throws.
      const status = (err as { statusCode?: number }).statusCode
      if (status !== undefined && status >= 400 && status < 500) return undefined
      throw new Error(`could not resolve handle ${handle}: ${(err as Error).message}`, { cause: err })
    }
    const did = body.split('\n')[0]?.trim()
    return did?.startsWith('did:') ? did : undefined
  }

  const resolveLabelerKey = async (did: string, forceRefresh = false): Promise<string> => {
    if (!did.startsWith('did:')) throw new IdentityError(did, 'bad-did', `not a DID: ${did}`)
    let doc: DidDocument | null
    try {
      doc = await idResolver.did.resolve(did, forceRefresh)
    } catch (err) {
      throw new IdentityError(did, 'resolve-failed', `could not resolve ${did}: ${(err as Error).message}`, { cause: err })
    }
    if (doc === null) throw new IdentityError(did, 'not-found', `${did} not found`)
    const method = (doc.verificationMethod ?? []).find((m) => m.id === '#atproto_label' || m.id === `${did}#atproto_label`)
    let key: string | undefined
    try {
      key = method?.publicKeyMultibase
        ? getDidKeyFromMultibase({ type: method.type, publicKeyMultibase: method.publicKeyMultibase })
        : undefined
    } catch (err) {
      throw new IdentityError(did, 'no-key', `${did} has a malformed #atproto_label key`, { cause: err })
    }
    if (key === undefined) throw new IdentityError(did, 'no-key', `${did} has no #atproto_label key`)
    return key
  }

  return { idResolver, resolveRepoIdentity, resolveHandle, resolveLabelerKey }
}

/** GET with an explicit `Host` header (fetch does not allow setting it). Small bodies only;
 * the whole exchange within `timeoutMs` (the socket's `timeout` only bounds idle gaps). */
const getWithHost = (url: URL, host: string, timeoutMs: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    const req = request(url, { method: 'GET', headers: { host }, timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        reject(Object.assign(new Error(`status ${res.statusCode}`), { statusCode: res.statusCode }))
        return
      }
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
        if (body.length > 4096) req.destroy(new Error('response too large'))
      })
      res.on('end', () => resolve(body))
      res.on('error', reject)
    })
    const deadline = setTimeout(() => req.destroy(new Error('timeout')), timeoutMs)
    req.on('close', () => clearTimeout(deadline))
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
