/**
 * One page of `com.atproto.sync.listRepos` of a PDS or relay: the ingester's repo discovery and
 * `ops backfill enqueue --host` page through a host with it. Errors name the host and say what
 * went wrong in our own words (peerFailure), never with what the peer sent beyond a short excerpt.
 */
import { peerFailure } from './net/describe.js'
import { excerpt } from './net/excerpt.js'
import type { PeerFetch } from './net/peer-fetch.js'

export interface ListedRepo {
  did: string
  rev?: string
  active?: boolean
  status?: string
}

export interface ListReposPage {
  repos: ListedRepo[]
  /** The cursor of the next page; undefined when this page is the last one. */
  next: string | undefined
}

export class ListReposError extends Error {
  override name = 'ListReposError'
  constructor(
    message: string,
    /** HTTP status, when the host answered one. */
    readonly status?: number,
  ) {
    super(message)
  }
}

export interface ListReposPageOptions {
  /** Where to start: the previous page's `next` (none: the first page). */
  cursor?: string | undefined
  /** Repos per page (default 1000, the lexicon's maximum). */
  limit?: number
  signal?: AbortSignal
}

/** Fetch one page of `host`'s listRepos (`host`: an http(s) base URL). Throws ListReposError. */
export async function fetchListReposPage(fetch: PeerFetch, host: string, opts: ListReposPageOptions = {}): Promise<ListReposPage> {
  const url = new URL(`${host.replace(/\/+$/, '')}/xrpc/com.atproto.sync.listRepos`)
  url.searchParams.set('limit', String(opts.limit ?? 1000))
  if (opts.cursor) url.searchParams.set('cursor', opts.cursor)
  let res: Response
  try {
    res = await fetch(url, { headers: { accept: 'application/json' }, ...(opts.signal ? { signal: opts.signal } : {}) })
  } catch (err) {
    throw new ListReposError(`listRepos on ${host} failed: ${peerFailure(err).message}`)
  }
  if (!res.ok) {
    const body = await res.text().catch(() => '')
    throw new ListReposError(`listRepos on ${host} answered HTTP ${res.status}: ${excerpt(body, 200)}`, res.status)
  }
  let body: unknown
  try {
    body = await res.json()
  } catch {
    throw new ListReposError(`listRepos on ${host} did not answer JSON`)
  }
  const o = body as { cursor?: unknown; repos?: unknown } | null
  if (!o || typeof o !== 'object' || !Array.isArray(o.repos))
    throw new ListReposError(`listRepos on ${host} answered without a "repos" list`)
  const repos: ListedRepo[] = []
  for (const r of o.repos as (Record<string, unknown> | null)[]) {
    if (!r || typeof r.did !== 'string') continue
    repos.push({
      did: r.did,
      ...(typeof r.rev === 'string' ? { rev: r.rev } : {}),
      ...(typeof r.active === 'boolean' ? { active: r.active } : {}),
      ...(typeof r.status === 'string' ? { status: r.status } : {}),
    })
  }
  const cursor = typeof o.cursor === 'string' && o.cursor !== '' ? o.cursor : undefined
  // no cursor, an empty page, or the cursor we asked with (a host that would loop): the end
  const last = cursor === undefined || repos.length === 0 || cursor === opts.cursor
  return { repos, next: last ? undefined : cursor }
}
