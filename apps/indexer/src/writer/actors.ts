import { sql } from 'kysely'
import type { AccountEvent } from '@firehose/streams'
import { insertRows, type Tx } from './sql.js'

const text = (names: string[]) => names.map((name) => ({ name, type: 'text' as const }))

/** Make sure an actor row exists for each DID (bsky's views join on it). */
export async function ensureActors(trx: Tx, firstSeen: ReadonlyMap<string, string>): Promise<void> {
  await insertRows(
    trx,
    { table: 'actor', keyColumn: 'did', columns: text(['did', 'indexedAt']) },
    [...firstSeen].sort(([a], [b]) => (a < b ? -1 : 1)).map(([did, indexedAt]) => ({ did, indexedAt })),
    'ON CONFLICT (did) DO NOTHING',
  )
}

/** Move `actor_sync` forward only: a commit replaces the stored one when its rev is greater. */
export async function advanceSync(trx: Tx, latest: ReadonlyMap<string, { commit: string; rev: string }>): Promise<void> {
  await insertRows(
    trx,
    { table: 'actor_sync', keyColumn: 'did', columns: text(['did', 'commitCid', 'repoRev']) },
    [...latest].sort(([a], [b]) => (a < b ? -1 : 1)).map(([did, v]) => ({ did, commitCid: v.commit, repoRev: v.rev })),
    `ON CONFLICT (did) DO UPDATE SET "commitCid" = excluded."commitCid", "repoRev" = excluded."repoRev"
     WHERE actor_sync."repoRev" IS NULL OR actor_sync."repoRev" < excluded."repoRev"`,
  )
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
