import { sql } from 'kysely'
import type { Database } from '../db/database.js'
import { LOCK_BULK } from '../writer/sql.js'

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
}

export type BulkLoadState = 'none' | 'open' | 'finishing' | 'finished'

export const stateOf = (load: BulkLoad | undefined): BulkLoadState =>
  !load ? 'none' : load.closedAt === null ? 'open' : load.finishedAt === null ? 'finishing' : 'finished'

export class BulkLoadError extends Error {
  override name = 'BulkLoadError'
}

/** The load's row, if any. */
export async function readBulkLoad(database: Database): Promise<BulkLoad | undefined> {
  const r = await sql<BulkLoad>`SELECT "startedAt", "closedAt", "finishedAt", step, "after" FROM indexer_bulk_load WHERE id = 1`.execute(
    database.db,
  )
  return r.rows[0]
}

/**
 * Open a load: from now on, bulk-mode batches defer derived state. Refused while one is open or
 * finishing; a finished load is replaced.
 */
export async function startBulkLoad(database: Database): Promise<BulkLoad> {
  const r = await sql<BulkLoad>`INSERT INTO indexer_bulk_load (id, "startedAt") VALUES (1, now())
    ON CONFLICT (id) DO UPDATE SET "startedAt" = now(), "closedAt" = NULL, "finishedAt" = NULL, step = NULL, "after" = NULL
      WHERE indexer_bulk_load."finishedAt" IS NOT NULL
    RETURNING "startedAt", "closedAt", "finishedAt", step, "after"`.execute(database.db)
  const load = r.rows[0]
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
