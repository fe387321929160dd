import { sql } from 'kysely'
import pLimit from 'p-limit'
import type { Logger } from '@firehose/service'
import type { Database } from './db/database.js'
import type { IdentityMetrics } from './identity-metrics.js'
import { applyHandle } from './writer/actors.js'
import { HANDLE_CHECK_LEASE_MS } from './writer/handle-state.js'
import type { HandleCheck, HandleVerifier } from './writer/handles.js'
import { lockBatch } from './writer/sql.js'

export interface HandleCheckerOptions {
  database: Database
  verifier: HandleVerifier
  logger: Logger
  metrics?: IdentityMetrics
  /** Lookups at once (default 16). */
  concurrency?: number
  /** Checks held in memory; beyond, they wait in Postgres for a sweep (default 10000). */
  maxQueued?: number
  /** How often overdue checks are claimed from Postgres (default 10 s; 0: never). */
  sweepIntervalMs?: number
  /** Failed lookups before a check is given up (the stored handle stays; default 8). */
  maxAttempts?: number
  /** First retry delay after a failed lookup, doubled each time up to an hour (default 30 s). */
  retryBaseMs?: number
  /**
   * First delay before a result that could not be written (Postgres or pgbouncer unreachable,
   * restarting) is tried again in this process, doubled while writes keep failing, up to 30 s
   * (default 500 ms). Without it the check would wait for its lease and a sweep.
   */
  writeRetryMs?: number
}

/**
 * Verifies handles in the background, off the batches' path: a batch writes an identity event
 * at once (leaving the stored handle as it is) and hands its check here. Lookups run a few at a
 * time, each bounded by the verifier's deadline, so that a slow DID or handle host costs its own
 * handle, not the stream. The result is written only if the identity event checked is still the
 * newest applied to its DID (`indexer_actor_state` under the DID's advisory lock, the one the
 * batches take): a newer identity event, applied meanwhile, has its own check, whatever the order.
 * A failed lookup is retried later (backoff); a check the process did not finish (crash,
 * shutdown, full queue) is claimed by a sweep of any indexer once its lease ran out.
 */
export class HandleChecker {
  private readonly queued = new Map<string, HandleCheck>()
  private readonly limit: ReturnType<typeof pLimit>
  private timer: NodeJS.Timeout | undefined
  private sweeping: Promise<unknown> | undefined
  private closed = false
  private readonly running = new Set<Promise<void>>()
  private readonly retryTimers = new Set<NodeJS.Timeout>()
  /** Writes failed in a row (any DID): the backoff of the next write retry. */
  private writeFailures = 0

  constructor(private readonly opts: HandleCheckerOptions) {
    this.limit = pLimit(opts.concurrency ?? 16)
  }

  start(): void {
    const every = this.opts.sweepIntervalMs ?? 10_000
    if (every > 0) this.timer = setInterval(() => void this.sweep(), every).unref()
    void this.sweep()
  }

  /** Check these handles (the newest check of a DID replaces a queued older one). */
  enqueue(checks: readonly HandleCheck[]): void {
    for (const c of checks) {
      if (this.closed) return
      const cur = this.queued.get(c.did)
      if (cur) {
        if (c.time > cur.time || (c.time === cur.time && c.seq >= cur.seq)) this.queued.set(c.did, c)
        continue
      }
      if (this.queued.size >= (this.opts.maxQueued ?? 10_000)) {
        this.opts.metrics?.checks.inc({ outcome: 'deferred' })
        continue // its row stays due: a sweep claims it once the lease ran out
      }
      this.queued.set(c.did, c)
      const job = this.limit(() => this.run(c.did)).catch((err: unknown) => {
        this.opts.logger.warn({ did: c.did, err: (err as Error).message }, 'handle check failed: retried by a sweep')
      })
      this.running.add(job)
      void job.finally(() => this.running.delete(job))
    }
    this.opts.metrics?.queued.set(this.queued.size)
  }

  /** Claim the overdue checks of any indexer (a lease ahead) and queue them. Returns how many. */
  async sweep(limit = 500): Promise<number> {
    if (this.closed || this.sweeping) return 0
    const room = Math.min(limit, (this.opts.maxQueued ?? 10_000) - this.queued.size)
    if (room <= 0) return 0
    const run = (async () => {
      const res = await sql<{ did: string; handleTime: string; handleSeq: string; handleClaim: string | null }>`
        UPDATE indexer_actor_state AS s SET "handleCheckAt" = now() + make_interval(secs => ${HANDLE_CHECK_LEASE_MS / 1000}::float8)
        FROM (SELECT did FROM indexer_actor_state WHERE "handleCheckAt" <= now() ORDER BY "handleCheckAt" LIMIT ${room} FOR UPDATE SKIP LOCKED) AS due
        WHERE s.did = due.did
        RETURNING s.did, s."handleTime", s."handleSeq", s."handleClaim"`.execute(this.opts.database.db)
      this.enqueue(res.rows.map((r) => ({ did: r.did, time: r.handleTime, seq: Number(r.handleSeq), claim: r.handleClaim ?? undefined })))
      return res.rows.length
    })()
    this.sweeping = run
    try {
      return await run
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'handle check sweep failed')
      return 0
    } finally {
      this.sweeping = undefined
    }
  }

  /** Wait for every queued check (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running])
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    for (const t of this.retryTimers) clearTimeout(t)
    this.retryTimers.clear()
    // (queued checks return at once now; their rows stay due for a later sweep)
    await this.sweeping?.catch(() => undefined)
    await Promise.all([...this.running])
  }

  private async run(did: string): Promise<void> {
    const check = this.queued.get(did)
    this.queued.delete(did)
    this.opts.metrics?.queued.set(this.queued.size)
    if (!check || this.closed) return
    const value = await this.opts.verifier.verify(check.did, check.claim)
    let outcome: string
    try {
      outcome = await this.apply(check, value)
      this.writeFailures = 0
    } catch (err) {
      this.opts.metrics?.checks.inc({ outcome: 'unwritten' })
      const delayMs = Math.min(30_000, (this.opts.writeRetryMs ?? 500) * 2 ** Math.min(this.writeFailures++, 16))
      this.opts.logger.warn(
        { did, delayMs, err: (err as Error).message },
        'handle check result not written (Postgres unreachable?): trying again',
      )
      this.retryLater(check, delayMs)
      return
    }
    this.opts.metrics?.checks.inc({ outcome })
    if (outcome === 'gave-up')
      this.opts.logger.warn({ did, claim: check.claim }, 'handle check given up after repeated lookup failures: the stored handle stays')
  }

  /** Queue `check` again after `delayMs` (a newer check of its DID queued meanwhile wins). */
  private retryLater(check: HandleCheck, delayMs: number): void {
    if (this.closed) return
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer)
      this.enqueue([check])
    }, delayMs)
    this.retryTimers.add(timer)
  }

  /** Write a check's result if its identity event is still the newest of the DID. */
  private async apply(check: HandleCheck, value: string | null | undefined): Promise<string> {
    return this.opts.database.db.transaction().execute(async (trx) => {
      await lockBatch(trx, [check.did], [], [])
      const row = (
        await sql<{ handleTime: string | null; handleSeq: string | null; due: boolean; attempts: number | null }>`
          SELECT "handleTime", "handleSeq", "handleCheckAt" IS NOT NULL AS due, "handleAttempts" AS attempts
          FROM indexer_actor_state WHERE did = ${check.did}`.execute(trx)
      ).rows[0]
      if (!row?.due || row.handleTime !== check.time || Number(row.handleSeq) !== check.seq) return 'superseded'
      if (value === undefined) {
        const attempts = (row.attempts ?? 0) + 1
        const giveUp = attempts >= (this.opts.maxAttempts ?? 8)
        const delayS = Math.min(3600, ((this.opts.retryBaseMs ?? 30_000) / 1000) * 2 ** (attempts - 1))
        await sql`UPDATE indexer_actor_state SET "handleAttempts" = ${attempts},
            "handleCheckAt" = ${giveUp ? null : sql`now() + make_interval(secs => ${delayS}::float8)`}
          WHERE did = ${check.did}`.execute(trx)
        return giveUp ? 'gave-up' : 'retry'
      }
      // a PDS does not resolve the handle of an account it holds deactivated (or taken down):
      // a check that only ran after that (a late one, a sweep after a crash) says nothing about
      // the handle, which the account keeps (bsky leaves it too); its reactivation brings a
      // new identity event, checked afresh
      const inactive =
        value === null &&
        (await sql<{ s: string | null }>`SELECT "upstreamStatus" AS s FROM actor WHERE did = ${check.did}`.execute(trx)).rows[0]?.s
      if (!inactive) await applyHandle(trx, check.did, value, check.time)
      await sql`UPDATE indexer_actor_state SET "handleCheckAt" = NULL, "handleClaim" = NULL, "handleAttempts" = NULL WHERE did = ${check.did}`.execute(
        trx,
      )
      return inactive ? 'inactive' : value === null ? 'invalid' : 'verified'
    })
  }
}
