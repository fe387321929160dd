import { sql } from 'kysely'
import type { AccountEvent } from '@firehose/streams'
import { insertSql, type CombinedStatement, type Tx } from './sql.js'

const text = (names: string[]) => names.map((name) => ({ name, type: 'text' as const }))

/**
 * Make sure an actor row exists for each DID (bsky's views join on it), and move `actor_sync`
 * forward only: a commit replaces the stored one when its rev is greater. Parts of the
 * writer's combined statement.
 */
export function addActorsAndSync(
  stmt: CombinedStatement,
  firstSeen: ReadonlyMap<string, string>,
  latest: ReadonlyMap<string, { commit: string; rev: string }>,
): void {
  const byDid = <V>(m: ReadonlyMap<string, V>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1))
  stmt.add(
    insertSql(
      { table: 'actor', keyColumn: 'did', columns: text(['did', 'indexedAt']) },
      byDid(firstSeen).map(([did, indexedAt]) => ({ did, indexedAt })),
      'ON CONFLICT (did) DO NOTHING',
    ),
  )
  stmt.add(
    insertSql(
      { table: 'actor_sync', keyColumn: 'did', columns: text(['did', 'commitCid', 'repoRev']) },
      byDid(latest).map(([did, v]) => ({ did, commitCid: v.commit, repoRev: v.rev })),
      `ON CONFLICT (did) DO UPDATE SET "commitCid" = excluded."commitCid", "repoRev" = excluded."repoRev"
       WHERE actor_sync."repoRev" IS NULL OR actor_sync."repoRev" < excluded."repoRev"`,
    ),
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

/** An event's position for ordering account / identity events of one DID: time, then seq. */
export const eventTime = (time: string): string => {
  const ms = Date.parse(time)
  return Number.isNaN(ms) ? time : new Date(ms).toISOString()
}

/**
 * Keep only the account (`status`) or identity (`handle`) events newer than the last one
 * applied to their DID, recording them as the last applied. One statement.
 */
export async function newerActorEvents<E extends { did: string; time: string; seq: number }>(
  trx: Tx,
  kind: 'status' | 'handle',
  events: readonly E[],
): Promise<E[]> {
  if (events.length === 0) return []
  const t = kind === 'status' ? '"statusTime"' : '"handleTime"'
  const q = kind === 'status' ? '"statusSeq"' : '"handleSeq"'
  const sorted = [...events].sort((a, b) => (a.did < b.did ? -1 : 1))
  const res = await sql<{ did: string }>`INSERT INTO indexer_actor_state (did, ${sql.raw(t)}, ${sql.raw(q)})
    SELECT * FROM unnest(${sorted.map((e) => e.did)}::text[], ${sorted.map((e) => eventTime(e.time))}::text[], ${sorted.map((e) => Math.trunc(e.seq))}::bigint[])
    ON CONFLICT (did) DO UPDATE SET ${sql.raw(t)} = excluded.${sql.raw(t)}, ${sql.raw(q)} = excluded.${sql.raw(q)}
    WHERE indexer_actor_state.${sql.raw(t)} IS NULL
       OR (indexer_actor_state.${sql.raw(t)}, indexer_actor_state.${sql.raw(q)}) <= (excluded.${sql.raw(t)}, excluded.${sql.raw(q)})
    RETURNING did`.execute(trx)
  const applied = new Set(res.rows.map((r) => r.did))
  return events.filter((e) => applied.has(e.did))
}
