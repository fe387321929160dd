import { sql } from 'kysely'
import type { Database } from '../db/database.js'
import { LOCK_BULK } from '../writer/sql.js'
import { dropAppViewIndexes, type DeferredIndex } from './indexes.js'

/**
 * The bulk load of a first backfill (migration 0012; docs/operations.md "First backfill"): at most
 * one, started by the operator before the bulk-mode indexers read `firehose_backfill`, finished
 * (bulk/finish.ts) once they have drained it.
 */
export interface BulkLoad {
  startedAt: Date
  /** When batches stopped deferring (the finish's first step); null while the load is open. */
  closedAt: Date | null
  /** When everything deferred was derived; null until then. */
  finishedAt: Date | null
  /** The finish's current step (FINISH_STEPS) and the last key it completed. */
  step: string | null
  after: string | null
  /** The AppView-only indexes the start dropped, which the finish builds (bulk/indexes.ts). */
  deferredIndexes: DeferredIndex[]
}

export type BulkLoadState = 'none' | 'open' | 'finishing' | 'finished'

export const stateOf = (load: BulkLoad | undefined): BulkLoadState =>
  !load ? 'none' : load.closedAt === null ? 'open' : load.finishedAt === null ? 'finishing' : 'finished'

export class BulkLoadError extends Error {
  override name = 'BulkLoadError'
}

/** The load's row, if any. */
export async function readBulkLoad(database: Database): Promise<BulkLoad | undefined> {
  const r = await sql<BulkLoad>`SELECT "startedAt", "closedAt", "finishedAt", step, "after", "deferredIndexes"
    FROM indexer_bulk_load WHERE id = 1`.execute(database.db)
  return r.rows[0]
}

export interface StartOptions {
  /**
   * Drop the AppView-only indexes for the load (bulk/indexes.ts; the finish builds them):
   * `auto` (the default) when the database holds no record yet.
   */
  deferIndexes?: boolean | 'auto'
  /** `lock_timeout` of the index drops (default 10 s): they wait for the tables' readers. */
  lockTimeoutMs?: number
}

/**
 * Open a load: from now on, bulk-mode batches defer derived state. Refused while one is open or
 * finishing; a finished load is replaced.
 */
export async function startBulkLoad(database: Database, opts: StartOptions = {}): Promise<BulkLoad> {
  const load = await database.db.transaction().execute(async (trx) => {
    const r = await sql<BulkLoad>`INSERT INTO indexer_bulk_load (id, "startedAt") VALUES (1, now())
      ON CONFLICT (id) DO UPDATE SET "startedAt" = now(), "closedAt" = NULL, "finishedAt" = NULL, step = NULL, "after" = NULL,
        "deferredIndexes" = '[]'::jsonb
        WHERE indexer_bulk_load."finishedAt" IS NOT NULL
      RETURNING "startedAt", "closedAt", "finishedAt", step, "after", "deferredIndexes"`.execute(trx)
    const row = r.rows[0]
    if (!row) return undefined
    const empty = async () => (await sql<{ empty: boolean }>`SELECT NOT EXISTS (SELECT 1 FROM record) AS empty`.execute(trx)).rows[0]?.empty
    const defer = opts.deferIndexes ?? 'auto'
    if (defer === true || (defer === 'auto' && (await empty()))) {
      await sql`SELECT set_config('lock_timeout', ${`${Math.max(1, Math.floor(opts.lockTimeoutMs ?? 10_000))}ms`}, true)`.execute(trx)
      row.deferredIndexes = await dropAppViewIndexes(trx)
      await sql`UPDATE indexer_bulk_load SET "deferredIndexes" = ${JSON.stringify(row.deferredIndexes)}::jsonb WHERE id = 1`.execute(trx)
    }
    return row
  })
  if (!load) {
    const cur = await readBulkLoad(database)
    throw new BulkLoadError(`a bulk load is already ${stateOf(cur)} (started ${cur?.startedAt.toISOString()}): finish it first`)
  }
  return load
}

/**
 * Close the load: waits for the batches that are deferring (they hold the load's lock shared),
 * and every batch after this sees it closed and derives its own state. Idempotent.
 */
export async function closeBulkLoad(database: Database): Promise<void> {
  await database.db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${LOCK_BULK}::int, 0)`.execute(trx)
    await sql`UPDATE indexer_bulk_load SET "closedAt" = now() WHERE id = 1 AND "closedAt" IS NULL`.execute(trx)
  })
}
