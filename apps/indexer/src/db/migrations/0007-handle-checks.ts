/**
 * Handles verified in the background (handle-checks.ts): an identity event is written at once,
 * leaving the stored handle as it is, and `"handleCheckAt"` says when its handle is due to be
 * checked (set a lease ahead by the batch; the checker of that process normally finishes first;
 * an overdue row is claimed by any indexer's sweep), `"handleClaim"` the handle the event
 * claimed, `"handleAttempts"` the failed lookups so far. Null `"handleCheckAt"`: nothing to do.
 * Nullable columns (instant); the partial index covers only the rows with a check due.
 */
export const name = '0007-handle-checks'

export const statements: readonly string[] = [
  `ALTER TABLE indexer_actor_state ADD COLUMN IF NOT EXISTS "handleCheckAt" timestamptz`,
  `ALTER TABLE indexer_actor_state ADD COLUMN IF NOT EXISTS "handleClaim" character varying`,
  `ALTER TABLE indexer_actor_state ADD COLUMN IF NOT EXISTS "handleAttempts" integer`,
  `CREATE INDEX IF NOT EXISTS indexer_actor_state_handle_check_idx ON indexer_actor_state ("handleCheckAt") WHERE "handleCheckAt" IS NOT NULL`,
]
