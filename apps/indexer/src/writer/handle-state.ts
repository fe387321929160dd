import { sql } from 'kysely'
import type { Tx } from './sql.js'

/**
 * How long the process that wrote an identity has to check its handle before any indexer's
 * sweep (handle-checks.ts) claims the check: `"handleCheckAt"` is set this far ahead.
 */
export const HANDLE_CHECK_LEASE_MS = 60_000

/**
 * Record, for the identity events a batch applied (the newest of their DID), whether their
 * handle is still to be checked: due a lease ahead with the event's claim, or nothing (a check
 * of an older event of the DID is dropped with it). One statement.
 */
export async function markHandleChecks(
  trx: Tx,
  applied: readonly { did: string; pending: boolean; claim: string | undefined }[],
): Promise<void> {
  if (applied.length === 0) return
  const sorted = [...applied].sort((a, b) => (a.did < b.did ? -1 : 1))
  await sql`UPDATE indexer_actor_state AS s SET
      "handleCheckAt" = CASE WHEN x.p THEN now() + make_interval(secs => ${HANDLE_CHECK_LEASE_MS / 1000}::float8) END,
      "handleClaim" = CASE WHEN x.p THEN x.c END,
      "handleAttempts" = CASE WHEN x.p THEN 0 END
    FROM unnest(${sorted.map((a) => a.did)}::text[], ${sorted.map((a) => a.pending)}::boolean[], ${sorted.map((a) => a.claim ?? null)}::text[]) AS x(d, p, c)
    WHERE s.did = x.d`.execute(trx)
}
