/**
 * Repo discovery: page `com.atproto.sync.listRepos` of a host into `repo_backfill`, one entry
 * per repo (`{did, host, rev, active, status}`). The listRepos cursor is saved per host after
 * the page's entries are in Redis, and `!ingester-done` when the listing has ended, so a restart
 * resumes where it stopped and a finished host is not listed again. Each page waits for the
 * producer to be writable (the high-water mark of `repo_backfill`).
 */
import { backoffDelay, sleep, type Logger } from '@firehose/service'
import { CURSOR_DONE, CursorStore, cursorHost, encodeRepoJob, streamForDid, type RepoBackfillJob } from '@firehose/streams'
import { toHttpBase } from './config.js'
import type { HostContext } from './host-stream.js'

export interface ListReposOptions {
  pageSize?: number
  signal: AbortSignal
  fetch?: typeof fetch
}

interface ListedRepo {
  did: string
  rev?: string
  active?: boolean
  status?: string
}

export class ListReposError extends Error {
  override name = 'ListReposError'
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message)
  }
}

function parsePage(body: unknown): { cursor?: string; repos: ListedRepo[] } {
  const o = body as { cursor?: unknown; repos?: unknown }
  if (!o || typeof o !== 'object' || !Array.isArray(o.repos)) throw new ListReposError('listRepos answer has no `repos` array')
  const repos: ListedRepo[] = []
  for (const r of o.repos as Record<string, unknown>[]) {
    if (!r || typeof r.did !== 'string') continue
    repos.push({
      did: r.did,
      ...(typeof r.rev === 'string' ? { rev: r.rev } : {}),
      ...(typeof r.active === 'boolean' ? { active: r.active } : {}),
      ...(typeof r.status === 'string' ? { status: r.status } : {}),
    })
  }
  return typeof o.cursor === 'string' && o.cursor !== '' ? { cursor: o.cursor, repos } : { repos }
}

/** List every repo of `host` (websocket or http base URL) into the repo stream. */
export async function listReposInto(ctx: HostContext, host: string, opts: ListReposOptions): Promise<void> {
  const { config, producer, metrics } = ctx
  const name = cursorHost(host)
  const httpBase = toHttpBase(host)
  const log: Logger = ctx.logger.child({ host: name, kind: 'listRepos' })
  const cursors = new CursorStore(ctx.redis, config.repoStream)
  const doFetch = opts.fetch ?? fetch
  const limit = opts.pageSize ?? 1000
  let cursor = await cursors.get(name)
  if (cursor === CURSOR_DONE) {
    log.info('listRepos already done for this host')
    return
  }
  log.info({ cursor }, 'listing repos')
  let total = 0
  let attempt = 0
  while (!opts.signal.aborted) {
    await producer.waitUntilWritable()
    if (opts.signal.aborted) return
    const url = `${httpBase}/xrpc/com.atproto.sync.listRepos?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
    let page: { cursor?: string; repos: ListedRepo[] }
    try {
      const res = await doFetch(url, { signal: opts.signal })
      if (!res.ok) throw new ListReposError(`listRepos answered ${res.status}`, res.status)
      page = parsePage(await res.json())
      attempt = 0
    } catch (err) {
      if (opts.signal.aborted) return
      attempt++
      const delay = backoffDelay(attempt, config.reconnectInitialMs, config.reconnectMaxMs)
      log.warn({ err: (err as Error).message, attempt, delayMs: delay }, 'listRepos failed; retrying')
      await sleep(delay, opts.signal)
      continue
    }
    const latest = new Map<string, Promise<void>>()
    const counts = new Map<string, number>()
    for (const r of page.repos) {
      const job: RepoBackfillJob = { ...r, host: httpBase }
      const stream = streamForDid(config.repoStream, r.did, config.streamShards)
      latest.set(stream, producer.add(stream, ['repo', encodeRepoJob(job)]))
      counts.set(stream, (counts.get(stream) ?? 0) + 1)
    }
    // the producer writes a stream's batches in order: the last promise covers the page
    await Promise.all(latest.values())
    for (const [stream, n] of counts) metrics.eventsWritten.inc({ stream }, n)
    metrics.backfillEnqueued.inc({ host: name, reason: 'list_repos' }, page.repos.length)
    total += page.repos.length
    if (!page.cursor || page.repos.length === 0) {
      await cursors.set(name, CURSOR_DONE)
      log.info({ total }, 'listRepos done')
      return
    }
    cursor = page.cursor
    await cursors.set(name, cursor)
  }
}
