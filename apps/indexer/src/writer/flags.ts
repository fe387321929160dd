import { sql } from 'kysely'
import { recordModules } from '../records/index.js'
import { recordUri, type RecordOp } from './prepare.js'
import type { CombinedStatement } from './sql.js'

interface Flag {
  /** The flagging type: its collection and table. */
  collection: string
  table: string
  column: string
}

/** Flags by the table and collection of the rows they are set on (e.g. post). */
const flagsByTarget = new Map<string, { table: string; collection: string; flags: Flag[] }>()
for (const m of recordModules) {
  if (!m.flag) continue
  const key = `${m.flag.table} ${m.flag.targetCollection}`
  let t = flagsByTarget.get(key)
  if (!t) flagsByTarget.set(key, (t = { table: m.flag.table, collection: m.flag.targetCollection, flags: [] }))
  t.flags.push({ collection: m.collection, table: m.main.table, column: m.flag.column })
}

/**
 * Flags that one record type sets on another's row (`post.hasThreadGate`, `post.hasPostGate`):
 * true while the flagging record exists, false once it was deleted (its tombstone), null when
 * there never was one. bsky sets them when the gate is indexed after its post and clears them
 * when it is deleted; here they are recomputed from what is stored, after this batch's writes,
 * for the posts of every gate op in the batch and every post the batch wrote, so they come out
 * the same in any delivery order. A gate op locks its post's uri too (RecordOp.locks), so a
 * concurrent batch writing the post sees the gate committed, or the other way round.
 *
 * Adds ONE UPDATE part per target table to `stmt` (run after the batch's inserts): two parts
 * of one statement updating the same row would apply only one of them. None when the batch
 * touches no such row.
 */
export function addFlagUpdates(stmt: CombinedStatement, ops: readonly RecordOp[], written: readonly RecordOp[]): void {
  for (const target of flagsByTarget.values()) {
    const flagging = new Set(target.flags.map((f) => f.collection))
    const rows = new Map<string, { did: string; rkey: string }>()
    for (const op of ops) {
      if (flagging.has(op.collection)) rows.set(recordUri(op.did, target.collection, op.rkey), op)
    }
    for (const w of written) if (w.collection === target.collection) rows.set(w.uri, w)
    if (rows.size === 0) continue
    const at = [...rows.values()]
    const sources = target.flags.map((f) => sql`${at.map((r) => recordUri(r.did, f.collection, r.rkey))}::text[]`)
    const values = target.flags.map(
      (f, i) => sql`CASE
          WHEN EXISTS (SELECT 1 FROM ${sql.table(f.table)} g WHERE g.uri = x.${sql.raw(`s${i}`)}) THEN true
          WHEN EXISTS (SELECT 1 FROM record_tombstone r WHERE r.uri = x.${sql.raw(`s${i}`)}) THEN false
        END AS ${sql.raw(`f${i}`)}`,
    )
    const sets = target.flags.map((f, i) => sql`${sql.ref(f.column)} = v.${sql.raw(`f${i}`)}`)
    const changed = target.flags.map((f, i) => sql`p.${sql.ref(f.column)} IS DISTINCT FROM v.${sql.raw(`f${i}`)}`)
    const aliases = sql.raw(['t', ...target.flags.map((_, i) => `s${i}`)].join(', '))
    stmt.add(sql`UPDATE ${sql.table(target.table)} AS p SET ${sql.join(sets)}
      FROM (
        SELECT x.t, ${sql.join(values)}
        FROM unnest(${[...rows.keys()]}::text[], ${sql.join(sources)}) AS x(${aliases})
      ) AS v
      WHERE p.uri = v.t AND (${sql.join(changed, sql` OR `)})`)
  }
}
