import { sql } from 'kysely'

/**
 * The pruning horizon as the writer sees it (the contract's rule that a late, older create
 * cannot bring a deleted record back, kept after tombstones are pruned).
 *
 * A create that could bring a record back is older than the record's delete: its event time
 * (the relay's commit time, or the backfiller's fetch time for a repo snapshot) is at most the
 * delete's, and so at most when the tombstone was written. Once tombstones up to
 * `prunedThrough` are gone, a create or update of a uri with neither a stored record nor a
 * tombstone whose event time is before `prunedThrough` (plus CLOCK_MARGIN_MS for the clocks of
 * relays, backfillers and Postgres) cannot be told from such a create: it is skipped as stale
 * and counted (indexer_writes_beyond_tombstone_horizon_total). Only an entry that waited in the
 * pipeline longer than the horizon gets there (a DLQ replayed late, a stopped indexer): re-backfill
 * its repo (`pnpm ops backfill enqueue`), which reads the repo as it is now.
 */
export const CLOCK_MARGIN_MS = 60 * 60 * 1000

/** `uri` of the row HORIZON_ROW adds to the writer's version lookup. */
export const HORIZON_KEY = '!tombstone_horizon'

/**
 * A row for the writer's version lookup (a UNION ALL branch of the same shape): `uri` =
 * HORIZON_KEY, `tdel` = `prunedThrough` as ISO 8601. In the same statement as the tombstones,
 * hence the same snapshot: the pruner deletes tombstones and moves the horizon in one
 * transaction, so the writer sees either a tombstone or a horizon that covers it.
 */
export const HORIZON_ROW = sql`SELECT ${HORIZON_KEY}, NULL, NULL, NULL,
  to_char(h."prunedThrough" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), NULL, false, NULL
  FROM tombstone_horizon h`

export interface TimedWrite {
  time: string
}

/** The writes (of uris with no stored record and no tombstone) older than the horizon. */
export function writesBeyondHorizon<W extends TimedWrite>(horizon: string | null, writes: readonly W[]): Set<W> {
  const out = new Set<W>()
  const through = horizon === null ? NaN : Date.parse(horizon)
  if (!Number.isFinite(through)) return out
  const limit = through + CLOCK_MARGIN_MS
  for (const w of writes) if (Date.parse(w.time) < limit) out.add(w)
  return out
}
