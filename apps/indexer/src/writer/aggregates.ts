import { sql } from 'kysely'
import type { AggKey, AggKind } from '../records/index.js'
import { LOCK_AGG, lockKeys, type Tx } from './sql.js'

interface Recount {
  table: 'post_agg' | 'profile_agg'
  key: 'uri' | 'did'
  /** Count of base rows for key `k`. */
  count: string
}

const RECOUNTS: Record<AggKind, Recount> = {
  likeCount: { table: 'post_agg', key: 'uri', count: `SELECT count(*) FROM "like" WHERE subject = k` },
  repostCount: { table: 'post_agg', key: 'uri', count: `SELECT count(*) FROM repost WHERE subject = k` },
  replyCount: {
    table: 'post_agg',
    key: 'uri',
    count: `SELECT count(*) FROM post WHERE "replyParent" = k AND ("violatesThreadGate" IS NULL OR "violatesThreadGate" = false)`,
  },
  quoteCount: { table: 'post_agg', key: 'uri', count: `SELECT count(*) FROM quote WHERE subject = k` },
  followersCount: { table: 'profile_agg', key: 'did', count: `SELECT count(*) FROM follow WHERE "subjectDid" = k` },
  followsCount: { table: 'profile_agg', key: 'did', count: `SELECT count(*) FROM follow WHERE creator = k` },
  postsCount: { table: 'profile_agg', key: 'did', count: `SELECT count(*) FROM post WHERE creator = k` },
}

/**
 * Recount the touched aggregates from the base tables: one statement per counter for the
 * whole batch, each hot row once however many events touched it. Counting (not incrementing)
 * makes replays and reordering harmless. The keys are first locked (advisory, sorted): a
 * recount must start after any concurrent batch that changed the same counter has committed,
 * or both could write a count that misses the other's rows.
 */
export async function recountAggregates(trx: Tx, keys: readonly AggKey[]): Promise<number> {
  const byKind = new Map<AggKind, Set<string>>()
  for (const k of keys) {
    if (!k.key) continue
    let set = byKind.get(k.kind)
    if (!set) byKind.set(k.kind, (set = new Set()))
    set.add(k.key)
  }
  if (byKind.size === 0) return 0
  await lockKeys(
    trx,
    LOCK_AGG,
    [...byKind.entries()].flatMap(([kind, set]) => [...set].map((k) => `${RECOUNTS[kind].table}:${k}`)),
  )
  let rows = 0
  for (const [kind, set] of byKind) {
    const r = RECOUNTS[kind]
    const list = [...set].sort()
    const col = `"${kind}"`
    await sql`INSERT INTO ${sql.table(r.table)} (${sql.raw(r.key)}, ${sql.raw(col)})
      SELECT k, (${sql.raw(r.count)}) FROM unnest(${list}::text[]) AS k
      ON CONFLICT (${sql.raw(r.key)}) DO UPDATE SET ${sql.raw(col)} = excluded.${sql.raw(col)}
      WHERE ${sql.raw(`${r.table}.${col}`)} IS DISTINCT FROM excluded.${sql.raw(col)}`.execute(trx)
    rows += list.length
  }
  return rows
}
