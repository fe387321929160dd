import { sql } from 'kysely'
import { addInserts, resolveGroups } from '../derived.js'
import { CombinedStatement, deleteSql, insertSql } from '../sql.js'
import type { RecordModule, Row } from '../../records/index.js'
import type { BatchState, ModuleSlot } from './state.js'

const text = (names: string[]) => names.map((name) => ({ name, type: 'text' as const }))
const RECORD_SPEC = { table: 'record', keyColumn: 'uri', columns: text(['uri', 'cid', 'did', 'json', 'indexedAt', 'rev']) }
const TOMBSTONE_SPEC = { table: 'record_tombstone', keyColumn: 'uri', columns: text(['uri', 'did', 'rev', 'deletedAt', 'versionRev']) }

/**
 * Every insert and delete of the batch in ONE statement: `record`, tombstones, the rows of every
 * record type. Then the unique groups that lost a row or had a conflict are resolved.
 */
export async function writeRows(b: BatchState): Promise<void> {
  const stmt = new CombinedStatement()
  stmt.add(
    insertSql(
      RECORD_SPEC,
      b.writes.map((w) => ({
        uri: w.uri,
        cid: w.event.cid,
        did: w.did,
        json: JSON.stringify(w.event.record),
        indexedAt: w.time,
        rev: w.rev,
      })),
      `ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid, did = excluded.did, json = excluded.json,
         "indexedAt" = excluded."indexedAt", rev = excluded.rev`,
    ),
  )
  stmt.add(
    deleteSql(
      'record_tombstone',
      'uri',
      b.writes.filter((w) => b.tombstones.has(w.uri)).map((w) => w.uri),
    ),
  )
  stmt.add(
    deleteSql(
      'record',
      'uri',
      b.deletes.filter((d) => b.stored.has(d.uri)).map((d) => d.uri),
    ),
  )
  stmt.add(
    insertSql(
      TOMBSTONE_SPEC,
      b.deletes.map((d) => ({ uri: d.uri, did: d.did, rev: d.rev, deletedAt: d.time, versionRev: b.soft.tombVersion.get(d.uri) ?? null })),
      `ON CONFLICT (uri) DO UPDATE SET rev = excluded.rev, "deletedAt" = excluded."deletedAt", "versionRev" = excluded."versionRev",
         "tombstonedAt" = now() WHERE record_tombstone.rev < excluded.rev`,
    ),
  )
  if (b.soft.tombUpdates.size) {
    const list = [...b.soft.tombUpdates]
    stmt.add(sql`UPDATE record_tombstone SET "versionRev" = x.v FROM unnest(${list.map(([u]) => u)}::text[], ${list.map(([, v]) => v)}::text[]) AS x(u, v)
      WHERE record_tombstone.uri = x.u`)
  }
  for (const [spec, rows] of b.soft.rows) stmt.add(insertSql(spec, rows, 'ON CONFLICT DO NOTHING'))
  for (const [m, s] of b.byModule) {
    s.rows.sort((x, y) => (String(x.main.uri) < String(y.main.uri) ? -1 : 1))
    s.part = addInserts(stmt, m, s.rows, b.aggs)
  }
  const returned = await stmt.run(b.trx)
  for (const [m, s] of b.byModule) {
    const inserted = s.part ? (returned.get(s.part) ?? new Set<string>()) : new Set<string>()
    await resolveGroups(b.trx, m, s.uris, s.removed, s.rows, inserted, b.aggs)
    addLoneInserts(b, m, s, inserted)
  }
}

/**
 * The rows of `inserted` alone in their group: its insert found no row of the group (the
 * table's unique key), and the batch removed no row of it and has no other new version in it,
 * so resolveGroups left it as it was: kept, with no duplicate. The group is locked (group-locks.ts).
 */
function addLoneInserts(b: BatchState, m: RecordModule, s: ModuleSlot, inserted: ReadonlySet<string>): void {
  const group = m.uniqueGroup
  if (!group || inserted.size === 0) return
  const key = (row: Row): string => JSON.stringify(group.map((c) => row[c] ?? null))
  const members = new Map<string, number>()
  for (const r of s.removed) members.set(key(r), 2)
  for (const r of s.rows) members.set(key(r.main), (members.get(key(r.main)) ?? 0) + 1)
  for (const r of s.rows) {
    const uri = String(r.main.uri)
    if (inserted.has(uri) && members.get(key(r.main)) === 1) b.loneInserts.set(uri, r.main)
  }
}
