import { Counter, type Logger, type Registry } from '@firehose/service'
import { sql } from 'kysely'
import type { Database } from '../db/database.js'

/**
 * Pruning of `record_tombstone`: rows written more than the horizon ago go, oldest first, in
 * small batches (one short transaction each, `SKIP LOCKED` so that several indexers prune side
 * by side), and `tombstone_horizon` moves to the newest one pruned in the same transaction.
 * Why the horizon is safe, and what happens to a create older than it: tombstones/horizon.ts.
 */
export interface PruneOptions {
  horizonMs: number
  /** Rows per statement (default 1000). */
  batchSize?: number
  /** Statements per call at most (default 50): the rest waits for the next tick. */
  maxBatches?: number
}

export interface TombstoneMetrics {
  pruned: Counter
  beyondHorizon: Counter
}

export function createTombstoneMetrics(registry: Registry): TombstoneMetrics {
  const registers = [registry]
  return {
    pruned: new Counter({
      name: 'indexer_tombstones_pruned_total',
      help: 'record_tombstone rows pruned after INDEXER_TOMBSTONE_HORIZON_HOURS',
      registers,
    }),
    beyondHorizon: new Counter({
      name: 'indexer_writes_beyond_tombstone_horizon_total',
      help: 'Creates/updates skipped as stale: older than the pruned tombstones, of a uri with no record and no tombstone',
      registers,
    }),
  }
}

/** One pruning pass: returns the rows deleted. */
export async function pruneTombstones(database: Database, opts: PruneOptions): Promise<number> {
  const batchSize = opts.batchSize ?? 1000
  const maxBatches = opts.maxBatches ?? 50
  const seconds = Math.max(0, opts.horizonMs / 1000)
  let total = 0
  for (let i = 0; i < maxBatches; i++) {
    const res = await sql<{ n: number }>`
      WITH gone AS (
        DELETE FROM record_tombstone WHERE uri IN (
          SELECT uri FROM record_tombstone
          WHERE "tombstonedAt" < now() - make_interval(secs => ${seconds})
          ORDER BY "tombstonedAt" LIMIT ${batchSize} FOR UPDATE SKIP LOCKED)
        RETURNING "tombstonedAt"),
      moved AS (
        INSERT INTO tombstone_horizon (id, "prunedThrough")
        SELECT true, max("tombstonedAt") FROM gone HAVING count(*) > 0
        ON CONFLICT (id) DO UPDATE SET "prunedThrough" = GREATEST(tombstone_horizon."prunedThrough", excluded."prunedThrough")
        RETURNING 1)
      SELECT count(*)::int AS n FROM gone`.execute(database.db)
    const n = res.rows[0]?.n ?? 0
    total += n
    if (n < batchSize) break
  }
  return total
}

export interface TombstonePruner {
  /** Run a pass now (also what the timer runs); never two at once. */
  tick(): Promise<number>
  stop(): Promise<void>
}

/** Prune every `intervalMs` (0: never); a metric for the rows pruned and a log line per pass that pruned some. */
export function startTombstonePruner(
  database: Database,
  opts: PruneOptions & { intervalMs: number; metrics: TombstoneMetrics; logger: Logger },
): TombstonePruner {
  let running: Promise<number> | undefined
  const tick = (): Promise<number> => {
    running ??= (async () => {
      const started = Date.now()
      try {
        const n = await pruneTombstones(database, opts)
        opts.metrics.pruned.inc(n)
        if (n > 0)
          opts.logger.info(
            { pruned: n, horizonHours: opts.horizonMs / 3_600_000, ms: Date.now() - started },
            'pruned tombstones older than the horizon',
          )
        return n
      } catch (err) {
        opts.logger.warn({ err: (err as Error).message }, 'tombstone pruning failed: trying again next time')
        return 0
      } finally {
        running = undefined
      }
    })()
    return running
  }
  const timer = opts.intervalMs > 0 ? setInterval(() => void tick(), opts.intervalMs) : undefined
  timer?.unref()
  return {
    tick,
    async stop() {
      if (timer) clearInterval(timer)
      await running
    },
  }
}
