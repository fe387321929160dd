/**
 * One repo, start to end: resolve the DID, fetch the CAR from its PDS (waiting out 429s without
 * counting them as attempts), verify it as a whole, and only then emit one `create` event per
 * record, in chunks, followed by one `repo` event. Throws on any failure; nothing is emitted for a
 * repo that does not verify. A crash during emission replays the repo: duplicates, which the
 * indexer absorbs.
 */
import { backoffDelay, sleep, type Logger } from '@firehose/service'
import { encodeEvent, SEQ_BACKFILL, streamForDid, type RepoEvent, type RepoBackfillJob, type StreamProducer } from '@firehose/streams'
import { outputBudgetFor, type OutputBudget, type PeerFetch } from '@firehose/atproto'
import type { BudgetLease, ByteBudget } from './byte-budget.js'
import { FetchError, RateLimitedError, ShutdownError } from './errors.js'
import { fetchRepoCar, getRepoUrl } from './fetch-repo.js'
import type { HostSlots } from './host-slots.js'
import type { RepoIdentityResolver, RepoSource } from './identity.js'
import type { BackfillerMetrics } from './metrics.js'
import type { HostRateLimiter } from './rate-limit.js'
import type { ExtractedRepo } from './verify-worker.js'

export type RepoExtractor = (
  car: Uint8Array,
  expected: { did: string; signingKey: string },
  budget?: OutputBudget,
) => Promise<ExtractedRepo>

/** How long a repo waits for its host's share of slots before it is put back in the queue. */
export const HOST_SLOT_WAIT_MS = 1000

export interface RepoProcessorDeps {
  identity: RepoIdentityResolver
  limiter: HostRateLimiter
  /** per-host share of the slots (BACKFILLER_HOST_MAX_SLOTS) */
  hostSlots: HostSlots
  budget: ByteBudget
  /** the peer fetch (outgoing-request policy) */
  fetch: PeerFetch
  producer: StreamProducer
  /** verify a CAR, then turn its records into event JSON (verify-worker.ts), in-process or on a thread */
  extract: RepoExtractor
  metrics: BackfillerMetrics
  logger: Logger
  /** aborted when the backfiller closes */
  signal: AbortSignal
  settings: {
    outStream: string
    streamShards: number
    chunkSize: number
    httpTimeoutMs: number
    maxRepoBytes: number
    retryInitialMs: number
    retryMaxMs: number
    maxRateLimitWaitMs: number
    maxRateLimitWaits: number
    maxRateLimitTotalMs: number
    maxJsonPerCarByte: number
    minJsonBudgetBytes: number
    maxRepeatedRecords: number
  }
}

export interface RepoResult {
  records: number
  rev: string
  /** the snapshot's MST root CID string (when the verifier gives it) */
  data?: string
  bytes: number
}

/** `attempt` is 1 on the first delivery; later attempts resolve the DID again, bypassing the cache. */
export async function processRepo(job: RepoBackfillJob, attempt: number, d: RepoProcessorDeps): Promise<RepoResult> {
  const source = await d.identity.resolve(job.did, job.host, attempt > 1)
  // throws HostBusyError when the host holds its share: the caller puts the job back
  const releaseSlot = await d.hostSlots.acquire(getRepoUrl(source.service, job.did).host, HOST_SLOT_WAIT_MS, d.signal)
  const lease = d.budget.open()
  try {
    const { head, repo, bytes } = await fetchAndVerify(job.did, source, d, lease)
    checkOpen(d.signal)
    await emit(head, repo, d)
    return { records: repo.ends.length, rev: head.rev, bytes, ...(repo.data ? { data: repo.data } : {}) }
  } finally {
    lease.release()
    releaseSlot()
    d.metrics.bytesInFlight.set(d.budget.inUse)
  }
}

/** The CAR and its block index live only in this call: emission holds just the records' JSON. */
async function fetchAndVerify(did: string, source: RepoSource, d: RepoProcessorDeps, lease: BudgetLease) {
  const car = await fetchPolitely(did, source, d, lease)
  const bytes = car.byteLength // the CAR may be transferred to a verify thread
  d.metrics.bytesInFlight.set(d.budget.inUse)
  checkOpen(d.signal)
  // The records' JSON is about the CAR's size: reserve that too, before it is built.
  await lease.reserve(bytes, d.signal)
  d.metrics.bytesInFlight.set(d.budget.inUse)
  const endVerify = d.metrics.verifySeconds.startTimer()
  const budget = outputBudgetFor(bytes, {
    jsonPerCarByte: d.settings.maxJsonPerCarByte,
    minJsonBytes: d.settings.minJsonBudgetBytes,
    maxRepeatedRecords: d.settings.maxRepeatedRecords,
  })
  const repo = await d.extract(car, { did, signingKey: source.signingKey }, budget)
  endVerify()
  return { head: { did, commit: repo.commit, rev: repo.rev }, repo, bytes }
}

async function fetchPolitely(did: string, source: RepoSource, d: RepoProcessorDeps, lease: BudgetLease): Promise<Uint8Array> {
  const host = getRepoUrl(source.service, did).host
  let waited = 0
  for (let limited = 0; ; ) {
    await d.limiter.acquire(host, d.signal)
    checkOpen(d.signal)
    const end = d.metrics.fetchSeconds.startTimer()
    try {
      const car = await fetchRepoCar({
        service: source.service,
        did,
        timeoutMs: d.settings.httpTimeoutMs,
        maxBytes: d.settings.maxRepoBytes,
        lease,
        signal: d.signal,
        fetch: d.fetch,
      })
      end()
      d.metrics.fetchedBytes.inc(car.byteLength)
      return car
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err
      // A 429 is not a failed attempt: wait as told (or back off when not told) and ask again,
      // up to BACKFILLER_MAX_RATE_LIMIT_WAITS times and _TOTAL_SECS in all; then the attempt fails.
      limited++
      d.metrics.rateLimited.inc()
      const told = err.retryAfterMs
      const wait = Math.min(
        d.settings.maxRateLimitWaitMs,
        d.settings.maxRateLimitTotalMs - waited,
        told ?? backoffDelay(limited - 1, Math.max(1000, d.settings.retryInitialMs), Math.max(d.settings.retryMaxMs, 1000)),
      )
      // (a Retry-After of 0 is a wait of 0, not the end of the budget)
      if (limited > d.settings.maxRateLimitWaits || waited >= d.settings.maxRateLimitTotalMs) {
        throw new FetchError(
          'rate-limited',
          host,
          `getRepo from ${host}: still rate limited after ${limited - 1} waits (${Math.round(waited / 1000)} s)`,
        )
      }
      waited += wait
      d.metrics.rateLimitWaitSeconds.inc(wait / 1000)
      d.logger.info({ did, host, waitMs: wait, told: told !== undefined }, 'rate limited: waiting')
      d.limiter.pause(host, wait)
      await sleep(wait, d.signal)
    }
  }
}

/**
 * The `create` events in chunks of BACKFILLER_CHUNK_SIZE, pausing at the high-water mark, then the
 * `repo` event. Each chunk's events are built as bytes in one buffer (the common head, then each
 * record's tail) and handed to the producer as slices of it: no JS string per event.
 */
async function emit(head: { did: string; commit: string; rev: string }, repo: ExtractedRepo, d: RepoProcessorDeps): Promise<void> {
  const stream = streamForDid(d.settings.outStream, head.did, d.settings.streamShards)
  const time = new Date().toISOString()
  // same JSON as encodeEvent({ type: 'create', seq, time, did, commit, rev, collection, rkey, cid, record })
  const prefix = Buffer.from(
    `{"type":"create","seq":${SEQ_BACKFILL},"time":${JSON.stringify(time)},"did":${JSON.stringify(head.did)},"commit":${JSON.stringify(head.commit)},"rev":${JSON.stringify(head.rev)},`,
  )
  const { ends } = repo
  const json = Buffer.from(repo.json.buffer, repo.json.byteOffset, repo.json.byteLength)
  const n = ends.length
  const written = new Set<Promise<void>>()
  for (let first = 0; first < n; first += d.settings.chunkSize) {
    await d.producer.waitUntilWritable()
    checkOpen(d.signal)
    const last = Math.min(n, first + d.settings.chunkSize)
    const from = first === 0 ? 0 : ends[first - 1]!
    const chunk = Buffer.allocUnsafe((last - first) * prefix.length + (ends[last - 1]! - from))
    let at = 0
    let tail = from
    for (let i = first; i < last; i++) {
      const start = at
      at += prefix.copy(chunk, at)
      at += json.copy(chunk, at, tail, ends[i]!)
      tail = ends[i]!
      written.add(d.producer.add(stream, ['event', chunk.subarray(start, at)]))
    }
  }
  await d.producer.waitUntilWritable()
  const repoEvent: RepoEvent = { type: 'repo', seq: SEQ_BACKFILL, time, ...head }
  written.add(d.producer.add(stream, ['event', encodeEvent(repoEvent)]))
  await Promise.all(written)
}

function checkOpen(signal: AbortSignal): void {
  if (signal.aborted) throw new ShutdownError()
}
