/**
 * One repo, start to end: resolve the DID, fetch the CAR from its PDS (waiting out 429s without
 * counting them as attempts), verify it as a whole, and only then emit one `create` event per
 * record, in chunks, followed by one `repo` event. Throws on any failure; nothing is emitted for a
 * repo that does not verify. A crash during emission replays the repo: duplicates, which the
 * indexer absorbs.
 */
import { backoffDelay, sleep, type Logger } from '@firehose/service'
import {
  encodeEvent,
  SEQ_BACKFILL,
  streamForDid,
  type RecordWriteEvent,
  type RepoBackfillJob,
  type StreamProducer,
} from '@firehose/streams'
import type { ByteBudget } from './byte-budget.js'
import { RateLimitedError, ShutdownError } from './errors.js'
import { fetchRepoCar, getRepoUrl } from './fetch-repo.js'
import type { RepoIdentityResolver, RepoSource } from './identity.js'
import type { BackfillerMetrics } from './metrics.js'
import type { HostRateLimiter } from './rate-limit.js'
import type { RepoVerifier } from './verifier.js'

export interface RepoProcessorDeps {
  identity: RepoIdentityResolver
  limiter: HostRateLimiter
  budget: ByteBudget
  producer: StreamProducer
  verify: RepoVerifier
  metrics: BackfillerMetrics
  logger: Logger
  /** aborted when the backfiller closes */
  signal: AbortSignal
  settings: {
    outStream: string
    streamShards: number
    batchSize: number
    httpTimeoutMs: number
    maxRepoBytes: number
    retryInitialMs: number
    retryMaxMs: number
    maxRateLimitWaitMs: number
  }
}

export interface RepoResult {
  records: number
  rev: string
  bytes: number
}

/** `attempt` is 1 on the first delivery; later attempts resolve the DID again, bypassing the cache. */
export async function processRepo(job: RepoBackfillJob, attempt: number, d: RepoProcessorDeps): Promise<RepoResult> {
  const source = await d.identity.resolve(job.did, job.host, attempt > 1)
  const lease = d.budget.open()
  try {
    const car = await fetchPolitely(job.did, source, d, lease)
    d.metrics.bytesInFlight.set(d.budget.inUse)
    checkOpen(d.signal)
    const endVerify = d.metrics.verifySeconds.startTimer()
    const repo = await d.verify(car, { did: job.did, signingKey: source.signingKey })
    // Records decode lazily; a block that matches its CID but is not a valid record must fail the
    // repo before its first event is written, so decode them all once here (and again to emit:
    // cheaper than holding a second copy of a large repo).
    let decoded = 0
    for (const _ of repo.records) decoded++
    endVerify()
    if (decoded !== repo.recordCount) throw new Error(`verifier reported ${repo.recordCount} records but yielded ${decoded}`)
    checkOpen(d.signal)
    const records = await emit(job.did, repo, d)
    return { records, rev: repo.rev, bytes: car.byteLength }
  } finally {
    lease.release()
    d.metrics.bytesInFlight.set(d.budget.inUse)
  }
}

async function fetchPolitely(
  did: string,
  source: RepoSource,
  d: RepoProcessorDeps,
  lease: ReturnType<ByteBudget['open']>,
): Promise<Uint8Array> {
  const host = getRepoUrl(source.service, did).host
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
      })
      end()
      d.metrics.fetchedBytes.inc(car.byteLength)
      return car
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err
      // A 429 is not a failed attempt: wait as told (or back off when not told) and ask again.
      limited++
      const told = err.retryAfterMs
      const wait = Math.min(
        d.settings.maxRateLimitWaitMs,
        told ?? backoffDelay(limited - 1, Math.max(1000, d.settings.retryInitialMs), Math.max(d.settings.retryMaxMs, 1000)),
      )
      d.metrics.rateLimited.inc()
      d.metrics.rateLimitWaitSeconds.inc(wait / 1000)
      d.logger.info({ did, host, waitMs: wait, told: told !== undefined }, 'rate limited: waiting')
      d.limiter.pause(host, wait)
      await sleep(wait, d.signal)
    }
  }
}

async function emit(did: string, repo: Awaited<ReturnType<RepoVerifier>>, d: RepoProcessorDeps): Promise<number> {
  const stream = streamForDid(d.settings.outStream, did, d.settings.streamShards)
  const time = new Date().toISOString()
  const written = new Set<Promise<void>>()
  let n = 0
  const event: RecordWriteEvent = {
    type: 'create', seq: SEQ_BACKFILL, time, did, commit: repo.commitCid, rev: repo.rev,
    collection: '', rkey: '', cid: '', record: {},
  }
  for (const r of repo.records) {
    if (n % d.settings.batchSize === 0) {
      await d.producer.waitUntilWritable()
      checkOpen(d.signal)
    }
    event.collection = r.collection
    event.rkey = r.rkey
    event.cid = r.cid
    event.record = r.record
    written.add(d.producer.add(stream, ['event', encodeEvent(event)]))
    n++
  }
  await d.producer.waitUntilWritable()
  written.add(
    d.producer.add(stream, ['event', encodeEvent({ type: 'repo', seq: SEQ_BACKFILL, time, did, commit: repo.commitCid, rev: repo.rev })]),
  )
  await Promise.all(written)
  return n
}

function checkOpen(signal: AbortSignal): void {
  if (signal.aborted) throw new ShutdownError()
}
