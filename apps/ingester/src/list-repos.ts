/**
 * Repo discovery: page `com.atproto.sync.listRepos` of a host into `repo_backfill`, one entry
 * per repo (`{did, host, rev, active, status}`). The listRepos cursor is saved per host after
 * the page's entries are in Redis, and `!ingester-done` when the listing has ended, so a restart
 * resumes where it stopped and a finished host is not listed again. Each page waits until the
 * repo streams are writable (their high-water mark): the listing pauses, nothing else does.
 */
import { backoffDelay, sleep, type Logger } from '@firehose/service'
import { allShards, CURSOR_DONE, CursorStore, cursorHost, encodeRepoJob, streamForDid, type RepoBackfillJob } from '@firehose/streams'
import { fetchListReposPage, type ListReposPage } from '@firehose/atproto'
import { toHttpBase } from './config.js'
import type { HostContext } from './host-stream.js'

export interface ListReposOptions {
  pageSize?: number
  signal: AbortSignal
  /** the peer fetch (outgoing-request policy: ALLOW_PRIVATE_NETWORKS, bounded pages) */
  fetch: typeof fetch
}

/** List every repo of `host` (websocket or http base URL) into the repo stream. */
export async function listReposInto(ctx: HostContext, host: string, opts: ListReposOptions): Promise<void> {
  const { config, producer, metrics } = ctx
  const name = cursorHost(host)
  const httpBase = toHttpBase(host)
  const log: Logger = ctx.logger.child({ host: name, kind: 'listRepos' })
  const cursors = new CursorStore(ctx.redis, config.repoStream)
  const limit = opts.pageSize ?? 1000
  let cursor = await cursors.get(name)
  if (cursor === CURSOR_DONE) {
    log.info('listRepos already done for this host')
    return
  }
  log.info({ cursor }, 'listing repos')
  const repoStreams = allShards(config.repoStream, config.streamShards)
  let total = 0
  let attempt = 0
  while (!opts.signal.aborted) {
    await producer.waitUntilWritable(repoStreams)
    if (opts.signal.aborted) return
    let page: ListReposPage
    try {
      page = await fetchListReposPage(opts.fetch, httpBase, { cursor: cursor ?? undefined, limit, signal: opts.signal })
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
    if (page.next === undefined) {
      await cursors.set(name, CURSOR_DONE)
      log.info({ total }, 'listRepos done')
      return
    }
    cursor = page.next
    await cursors.set(name, cursor)
  }
}
