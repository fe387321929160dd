/**
 * `fetch` for requests to peers: connections through the policy's dispatcher (dispatcher.ts),
 * redirects followed by hand (at most `maxRedirects`, http(s) only; each hop's connection checked),
 * or refused when the caller asks `redirect: 'error'`, and bodies cut at `maxBodyBytes`. The
 * caller's `signal` (a timeout) covers the whole exchange, body included.
 */
import { fetch as undiciFetch, type Dispatcher } from 'undici'
import { limitBodyStream, BodyTooLargeError } from './body.js'
import { createPeerDispatcher } from './dispatcher.js'
import type { PeerPolicy } from './policy.js'

export type PeerFetch = typeof globalThis.fetch

/** Largest DID document (or well-known handle answer) read from a peer; a real one is 1-2 kB. */
export const MAX_DID_DOCUMENT_BYTES = 64 * 1024

export interface PeerFetchOptions {
  /** largest body returned (default 1 MiB); larger ones fail with BodyTooLargeError */
  maxBodyBytes?: number
  /** redirect hops followed (default 3) */
  maxRedirects?: number
  /** one dispatcher may be shared by several fetches */
  dispatcher?: Dispatcher
}

export class TooManyRedirectsError extends Error {
  override name = 'TooManyRedirectsError'
  constructor(readonly limit: number) {
    super(`more than ${limit} redirects`)
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])
const NULL_BODY = new Set([101, 103, 204, 205, 304])

export function createPeerFetch(policy: PeerPolicy, options: PeerFetchOptions = {}): PeerFetch {
  const dispatcher = options.dispatcher ?? createPeerDispatcher(policy)
  const maxBody = options.maxBodyBytes ?? 1024 * 1024
  const maxRedirects = options.maxRedirects ?? 3
  const peerFetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    if (input instanceof Request) throw new TypeError('peer fetch takes a URL, not a Request')
    let url = new URL(input)
    const mode = init.redirect ?? 'follow'
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`unsupported protocol ${url.protocol}`)
      const res = (await undiciFetch(url, { ...(init as object), redirect: 'manual', dispatcher } as Parameters<
        typeof undiciFetch
      >[1])) as unknown as Response
      const location = res.headers.get('location')
      if (mode === 'manual' || !REDIRECTS.has(res.status) || location === null) return limited(res, maxBody)
      await res.body?.cancel().catch(() => undefined)
      if (mode === 'error') throw new TypeError('redirect refused')
      if (hop >= maxRedirects) throw new TooManyRedirectsError(maxRedirects)
      url = new URL(location, url)
    }
  }
  return peerFetch as PeerFetch
}

/** The response with its body limited; a declared length over the limit fails at once. */
async function limited(res: Response, maxBytes: number): Promise<Response> {
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined)
    throw new BodyTooLargeError(maxBytes)
  }
  const body = res.body === null || NULL_BODY.has(res.status) ? null : limitBodyStream(res.body, maxBytes)
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers })
}
