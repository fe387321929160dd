import { sql } from 'kysely'
import type { AccountEvent } from '@firehose/streams'
import type { Tx } from './sql.js'

/**
 * Make sure an actor row exists for each DID (bsky's views join on it), and move `actor_sync`
 * forward only: a commit replaces the stored one when its rev is greater. One statement.
 */
export async function ensureActorsAndSync(
  trx: Tx,
  firstSeen: ReadonlyMap<string, string>,
  latest: ReadonlyMap<string, { commit: string; rev: string }>,
): Promise<void> {
  if (firstSeen.size === 0 && latest.size === 0) return
  const actors = [...firstSeen].sort(([a], [b]) => (a < b ? -1 : 1))
  const syncs = [...latest].sort(([a], [b]) => (a < b ? -1 : 1))
  await sql`WITH a AS (
      INSERT INTO actor (did, "indexedAt")
      SELECT * FROM unnest(${actors.map(([d]) => d)}::text[], ${actors.map(([, t]) => t)}::text[])
      ON CONFLICT (did) DO NOTHING
    )
    INSERT INTO actor_sync (did, "commitCid", "repoRev")
    SELECT * FROM unnest(${syncs.map(([d]) => d)}::text[], ${syncs.map(([, v]) => v.commit)}::text[], ${syncs.map(([, v]) => v.rev)}::text[])
    ON CONFLICT (did) DO UPDATE SET "commitCid" = excluded."commitCid", "repoRev" = excluded."repoRev"
    WHERE actor_sync."repoRev" IS NULL OR actor_sync."repoRev" < excluded."repoRev"`.execute(trx)
}

/**
 * Store a verified handle (`undefined`: leave it). A handle is unique in `actor`: whoever held
 * it before loses it, as in bsky's indexHandle.
 */
export async function applyHandle(trx: Tx, did: string, handle: string | null | undefined, time: string): Promise<void> {
  if (handle === undefined) {
    await sql`INSERT INTO actor (did, "indexedAt") VALUES (${did}, ${time}) ON CONFLICT (did) DO NOTHING`.execute(trx)
    return
  }
  if (handle !== null) {
    await sql`UPDATE actor SET handle = NULL WHERE handle = ${handle} AND did <> ${did}`.execute(trx)
  }
  await sql`INSERT INTO actor (did, handle, "indexedAt") VALUES (${did}, ${handle}, ${time})
    ON CONFLICT (did) DO UPDATE SET handle = excluded.handle, "indexedAt" = excluded."indexedAt"`.execute(trx)
}

/** `actor.upstreamStatus` of an account event: null when active, else its status, whatever it is. */
export const upstreamStatus = (e: AccountEvent): string | null => (e.active ? null : (e.status ?? 'deactivated'))

export async function applyAccountStatus(trx: Tx, e: AccountEvent): Promise<void> {
  const status = upstreamStatus(e)
  await sql`INSERT INTO actor (did, "indexedAt", "upstreamStatus") VALUES (${e.did}, ${e.time}, ${status})
    ON CONFLICT (did) DO UPDATE SET "upstreamStatus" = excluded."upstreamStatus"`.execute(trx)
}
