import { sql } from 'kysely'
import type { Logger } from '@firehose/service'
import type { Database } from '../db/database.js'
import { recountCounters } from '../recount-counters.js'
import { deriveAll } from './derive.js'
import { buildIndexes } from './indexes.js'
import { closeBulkLoad, readBulkLoad, stateOf, BulkLoadError } from './load.js'

/**
 * The finish's steps, in order; the load's row says which one it is at (a crash resumes there).
 * `derive` runs the tables at once, each with its own cursor (the row's `after`: a JSON object,
 * table → last uri done: bulk/derive.ts).
 */
export const FINISH_STEPS = ['derive', 'sweep', 'recount', 'indexes', 'done'] as const

export interface FinishOptions {
  /** Records per transaction (BULK_FINISH_CHUNK; default 1000). */
  chunk?: number
  /** Transactions at once while deriving (BULK_FINISH_CONCURRENCY; default 4). */
  concurrency?: number
  notifications?: boolean
  logger?: Logger
  /** Attempts of a chunk on deadlock (a live batch locking the same keys). */
  retries?: number
}

export interface FinishResult {
  derived: number
  swept: number
  counters: number
  /** Seconds each step took (in this run). */
  seconds: Partial<Record<(typeof FINISH_STEPS)[number], number>>
}

/**
 * Finish the bulk load: close it (no batch defers any more), then derive, from what is stored,
 * everything the bulk-mode batches deferred: every stored post's flags and every stored record's
 * notifications (writer/write-batch.ts `deriveStored`: the rules and locks of the normal path),
 * notifications left to records no longer stored go (a bulk batch's delete did not remove
 * them), every counter is recounted, the indexes the start deferred are built, and the database
 * analyzed. Live indexers may write meanwhile: each step computes from what is stored, under the
 * locks their batches take. Resumable: the load's row records the step and how far it got (a step this
 * build does not know starts the finish over: every step is idempotent).
 */
export async function finishBulkLoad(database: Database, opts: FinishOptions = {}): Promise<FinishResult> {
  const chunk = opts.chunk ?? 1000
  const log = opts.logger
  const load = await readBulkLoad(database)
  if (!load) throw new BulkLoadError('no bulk load to finish (start one first)')
  const result: FinishResult = { derived: 0, swept: 0, counters: 0, seconds: {} }
  if (stateOf(load) === 'finished') return result
  await closeBulkLoad(database)
  let step = load.step ?? FINISH_STEPS[0]
  let after = load.after ?? ''
  log?.info({ step, after }, 'bulk load closed: batches no longer defer; deriving what they deferred')
  const from = FINISH_STEPS.indexOf(step as (typeof FINISH_STEPS)[number])
  if (from < 0) after = ''
  for (let i = Math.max(0, from); i < FINISH_STEPS.length; i++) {
    step = FINISH_STEPS[i] as string
    if (step === 'done') break
    const t0 = performance.now()
    if (step === 'derive') {
      const cursors = (after === '' ? {} : JSON.parse(after)) as Record<string, string>
      result.derived += await deriveAll(database, cursors, { ...opts, chunk, concurrency: opts.concurrency ?? 4 })
    } else if (step === 'sweep') result.swept += await sweepNotifications(database, after, chunk, log)
    else if (step === 'recount') result.counters += (await recountCounters(database, { chunk: chunk * 5, logger: log })).keys
    else if (step === 'indexes') {
      await buildIndexes(database, load.deferredIndexes, log)
      await analyzeTables(database, log)
    }
    result.seconds[step as (typeof FINISH_STEPS)[number]] = Math.round(performance.now() - t0) / 1000
    after = ''
    await setStep(database, FINISH_STEPS[i + 1] as string, '')
  }
  await sql`UPDATE indexer_bulk_load SET "finishedAt" = now(), step = 'done', "after" = NULL WHERE id = 1`.execute(database.db)
  log?.info(result, 'bulk load finished')
  return result
}

/**
 * ANALYZE the database once it is loaded. The statement functions' generic plans
 * (db/statement-functions.ts), made at each server connection's first call on the load's empty
 * tables, are kept until an ANALYZE of a table they read: this one replaces them, in every
 * connection, with plans made on the loaded tables' statistics (where two indexes serve a lookup,
 * their costs tie on tiny tables). Autovacuum's would, later, and not where it is off.
 */
async function analyzeTables(database: Database, log?: Logger): Promise<void> {
  log?.info({ step: 'indexes' }, 'analyzing the loaded tables')
  await sql`ANALYZE`.execute(database.db)
}

const setStep = (database: Database, step: string, after: string) =>
  sql`UPDATE indexer_bulk_load SET step = ${step}, "after" = ${after} WHERE id = 1`.execute(database.db)

/**
 * Notifications whose record is no longer stored: rows exist only for stored records (and
 * `unverified` ones for deleted verifications), and a bulk batch's delete did not remove them.
 */
async function sweepNotifications(database: Database, after: string, chunk: number, log?: Logger): Promise<number> {
  let swept = 0
  let from = after === '' ? 0n : BigInt(after)
  for (;;) {
    const r = await sql<{ last: string | null; gone: string }>`WITH ids AS (
        SELECT id FROM notification WHERE id > ${String(from)}::bigint ORDER BY id LIMIT ${chunk * 10}
      ), gone AS (
        DELETE FROM notification n USING ids WHERE n.id = ids.id AND n.reason <> 'unverified'
          AND NOT EXISTS (SELECT 1 FROM record r WHERE r.uri = n."recordUri") RETURNING 1
      ), step AS (
        UPDATE indexer_bulk_load SET step = 'sweep', "after" = (SELECT max(id)::text FROM ids) WHERE id = 1 AND EXISTS (SELECT 1 FROM ids)
      )
      SELECT (SELECT max(id)::text FROM ids) AS last, (SELECT count(*) FROM gone)::text AS gone`.execute(database.db)
    const row = r.rows[0]
    swept += Number(row?.gone ?? 0)
    if (!row?.last) return swept
    from = BigInt(row.last)
    log?.info({ step: 'sweep', after: row.last, swept }, 'sweeping notifications of records gone')
  }
}
