/**
 * Tombstones are pruned after INDEXER_TOMBSTONE_HORIZON_HOURS (tombstones/prune.ts):
 * - `record_tombstone."tombstonedAt"`: when the tombstone was written (Postgres' clock; a newer
 *   delete of the same uri sets it again). Rows that exist when this runs get this migration's
 *   time: `now()` is stable, so Postgres stores one default for them and does not rewrite the
 *   table. The index makes pruning the oldest rows a range scan. On a large existing table
 *   create it beforehand with `CREATE INDEX CONCURRENTLY IF NOT EXISTS …` (same name).
 * - `tombstone_horizon`: one row, the newest `tombstonedAt` ever pruned. A create or update
 *   older than that, of a uri with neither a record nor a tombstone, may be a deleted record
 *   whose tombstone is gone: the writer skips it (tombstones/horizon.ts).
 */
export const name = '0008-tombstone-pruning'

export const statements: readonly string[] = [
  `ALTER TABLE record_tombstone ADD COLUMN IF NOT EXISTS "tombstonedAt" timestamptz NOT NULL DEFAULT now()`,
  `CREATE INDEX IF NOT EXISTS record_tombstone_tombstoned_at_idx ON record_tombstone USING btree ("tombstonedAt")`,
  `CREATE TABLE IF NOT EXISTS tombstone_horizon (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    "prunedThrough" timestamptz NOT NULL
)`,
]
