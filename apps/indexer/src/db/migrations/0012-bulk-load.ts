import { LOCK_BULK } from '../../writer/sql.js'
import { countDeltaFunction } from './0011-counter-deltas.js'

/**
 * The bulk load of a first backfill (src/bulk/, docs/operations.md "First backfill"). While a
 * load is open (`indexer_bulk_load."closedAt"` null), the batches of indexers in bulk mode
 * (INDEXER_MODE=bulk) write records and their rows but defer what is derived from other records
 * (post flags, notifications, counters) to the load's end, where it is computed once per record.
 *
 *  - `indexer_bulk_load`: at most one row: when the load started, closed (no batch defers any
 *    more) and finished (everything derived), the step the finish is at and how far it got.
 *  - `indexer_bulk_batch_begin()`: called by a bulk-mode batch first, instead of
 *    `indexer_counter_deltas_on()`. Takes the load's advisory lock SHARED (the close takes it
 *    exclusively: a batch that deferred has committed before the close does, and every later one
 *    sees the load closed); returns whether the load is open, and then sets the counters to
 *    `deferred` for the transaction, else turns deltas on as the normal path does.
 *  - `indexer_count_delta()` records nothing while the counters are deferred: the finish
 *    recounts every counter.
 */
export const name = '0012-bulk-load'

const DEFERRED = `
  IF current_setting('indexer.counter_deltas', true) = 'deferred' THEN
    RETURN NULL;
  END IF;`

export const statements: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS indexer_bulk_load (
    id smallint NOT NULL DEFAULT 1,
    "startedAt" timestamptz NOT NULL DEFAULT now(),
    "closedAt" timestamptz,
    "finishedAt" timestamptz,
    step text,
    "after" text,
    "deferredIndexes" jsonb NOT NULL DEFAULT '[]'::jsonb,
    CONSTRAINT indexer_bulk_load_pkey PRIMARY KEY (id),
    CONSTRAINT indexer_bulk_load_one CHECK (id = 1)
)`,
  countDeltaFunction(DEFERRED),
  `CREATE OR REPLACE FUNCTION indexer_bulk_batch_begin() RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(${LOCK_BULK}, 0);
  IF EXISTS (SELECT 1 FROM indexer_bulk_load WHERE "closedAt" IS NULL) THEN
    PERFORM set_config('indexer.counter_deltas', 'deferred', true);
    RETURN true;
  END IF;
  PERFORM indexer_counter_deltas_on();
  RETURN false;
END
$fn$`,
]
