/**
 * `com.atproto.sync.getRepo` over HTTP: a timeout covering the whole request, a size limit, the
 * body read into one buffer while reserving its bytes from the shared budget, and the answers
 * classified into the error classes of errors.ts.
 */
import { excerpt, peerFailure, type PeerFetch } from '@firehose/atproto'
import type { BudgetLease } from './byte-budget.js'
import { FetchError, isPermanentRepoError, RateLimitedError, RepoTooLargeError, RepoUnavailableError, ShutdownError } from './errors.js'
import { retryAfterMs } from './rate-limit.js'

export interface FetchRepoOptions {
  /** base URL of the PDS (or relay) */
  service: string
  did: string
  timeoutMs: number
  maxBytes: number
  lease: BudgetLease
  /** aborts the request when the backfiller closes */
  signal: AbortSignal
  /** the peer fetch (outgoing-request policy, every redirect hop checked) */
  fetch: PeerFetch
}

const NO_ANSWER = 'no usable answer'

export const getRepoUrl = (service: string, did: string): URL => {
  const url = new URL('/xrpc/com.atproto.sync.getRepo', service)
  url.searchParams.set('did', did)
  return url
}

/** Fetch a repo CAR. Throws FetchError, RateLimitedError, RepoUnavailableError, RepoTooLargeError, ShutdownError. */
export async function fetchRepoCar(o: FetchRepoOptions): Promise<Uint8Array> {
  const url = getRepoUrl(o.service, o.did)
  const host = url.host
  const timeout = AbortSignal.timeout(o.timeoutMs)
  const signal = AbortSignal.any([o.signal, timeout])
  // Our words only: refused, reset and timed out read the same (see peerFailure), nothing the peer sent.
  const fail = (err: unknown): never => {
    if (err instanceof RepoTooLargeError || err instanceof FetchError) throw err
    if (o.signal.aborted) throw new ShutdownError()
    if (timeout.aborted) throw new FetchError('timeout', host, `getRepo from ${host} failed: ${NO_ANSWER}`)
    const why = peerFailure(err)
    if (why.kind === 'body-too-large') throw new RepoTooLargeError(o.did, o.maxBytes)
    if (why.kind === 'refused-address')
      throw new FetchError('refused', host, `getRepo from ${host} refused: ${why.message}`, undefined, { cause: err })
    throw new FetchError('network', host, `getRepo from ${host} failed: ${why.kind === 'redirects' ? why.message : NO_ANSWER}`, undefined, {
      cause: err,
    })
  }
  let res: Response
  try {
    res = await o.fetch(url, { signal, headers: { accept: 'application/vnd.ipld.car' } })
  } catch (err) {
    return fail(err)
  }
  if (res.status !== 200) {
    const body = await readSmallBody(res).catch(() => '')
    if (res.status === 429) throw new RateLimitedError(host, retryAfterMs(res.headers))
    const { error, message } = parseXrpcError(body)
    if (isPermanentRepoError(error)) throw new RepoUnavailableError(o.did, error, res.status, excerpt(message ?? ''))
    const said = `${error ? ` ${excerpt(error, 40)}` : ''}${message ? `: ${excerpt(message)}` : ''}`
    throw new FetchError('status', host, `getRepo from ${host}: HTTP ${res.status}${said}`, res.status)
  }
  const length = Number(res.headers.get('content-length') ?? NaN)
  if (length > o.maxBytes) {
    await res.body?.cancel().catch(() => undefined)
    throw new RepoTooLargeError(o.did, o.maxBytes)
  }
  try {
    return await readBody(res, o, Number.isFinite(length) ? length : undefined)
  } catch (err) {
    await res.body?.cancel().catch(() => undefined)
    return fail(err)
  }
}

/** Reads the body into one buffer: preallocated when the length is known, else chunks joined once. */
async function readBody(res: Response, o: FetchRepoOptions, length: number | undefined): Promise<Uint8Array> {
  const reader = res.body?.getReader()
  if (!reader) return new Uint8Array(0)
  if (length !== undefined) {
    await o.lease.reserve(length, o.signal)
    const out = new Uint8Array(length)
    let at = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      if (at + value.length > length)
        throw new FetchError('network', getRepoUrl(o.service, o.did).host, 'body longer than its content-length')
      out.set(value, at)
      at += value.length
    }
    if (at !== length) throw new FetchError('network', getRepoUrl(o.service, o.did).host, `body ended after ${at} of ${length} bytes`)
    return out
  }
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.length
    if (total > o.maxBytes) throw new RepoTooLargeError(o.did, o.maxBytes)
    await o.lease.reserve(value.length, o.signal)
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array
  return Buffer.concat(chunks, total)
}

/** The start of an error body (at most 4 KiB); the rest is discarded. */
async function readSmallBody(res: Response): Promise<string> {
  const reader = res.body?.getReader()
  if (!reader) return ''
  const chunks: Uint8Array[] = []
  let total = 0
  while (total < 4096) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    total += value.length
  }
  await reader.cancel().catch(() => undefined)
  return Buffer.concat(chunks).subarray(0, 4096).toString('utf8')
}

function parseXrpcError(body: string): { error?: string; message?: string } {
  try {
    const o = JSON.parse(body) as unknown
    if (typeof o !== 'object' || o === null) return {}
    const { error, message } = o as { error?: unknown; message?: unknown }
    return {
      ...(typeof error === 'string' ? { error } : {}),
      ...(typeof message === 'string' ? { message } : {}),
    }
  } catch {
    return {}
  }
}
