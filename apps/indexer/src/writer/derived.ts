import { sql } from 'kysely'
import type { LexRecord } from '@firehose/streams'
import type { AggKey, RecordModule, Row } from '../records/index.js'
import { CombinedStatement, deleteWhereIn, insertRows, insertSql, type Tx } from './sql.js'

export interface ModuleRows {
  main: Row
  extra: Row[][]
}

const IGNORE = 'ON CONFLICT DO NOTHING'

/** The DID, collection and rkey of an at:// record uri. */
export function parseUri(uri: string): { did: string; collection: string; rkey: string } {
  const [did = '', collection = '', rkey = ''] = uri.slice('at://'.length).split('/')
  return { did, collection, rkey }
}

const upsertAll = (module: RecordModule): string =>
  `ON CONFLICT (uri) DO UPDATE SET ${module.main.columns
    .filter((c) => c.name !== 'uri')
    .map((c) => `"${c.name}" = excluded."${c.name}"`)
    .join(', ')}`

/**
 * Insert main rows and their extras. A main row whose uri is already there (left by another
 * writer without its `record` row) is replaced rather than failing the batch.
 */
async function insertWithExtras(trx: Tx, module: RecordModule, rows: readonly ModuleRows[]): Promise<void> {
  const stmt = new CombinedStatement()
  addPlainInserts(stmt, module, rows)
  await stmt.run(trx)
}

function addPlainInserts(stmt: CombinedStatement, module: RecordModule, rows: readonly ModuleRows[]): void {
  stmt.add(
    insertSql(
      module.main,
      rows.map((r) => r.main),
      upsertAll(module),
    ),
  )
  for (const [i, spec] of module.extra.entries()) {
    stmt.add(
      insertSql(
        spec,
        rows.flatMap((r) => r.extra[i] ?? []),
        IGNORE,
      ),
    )
  }
}

async function deleteExtras(trx: Tx, module: RecordModule, uris: readonly string[], aggs: AggKey[]): Promise<void> {
  for (const spec of module.extra) {
    const agg = spec.agg
    const removed = await deleteWhereIn(trx, spec.table, spec.keyColumn, uris, agg ? [agg.column] : [])
    if (agg) for (const r of removed) aggs.push({ kind: agg.kind, key: String(r[agg.column]) })
  }
}

/*
 * Replacing the rows a record type derives from records happens in three phases, so that the
 * writer can send the inserts of every type in one statement:
 *  1. removeOld: the rows of `uris` (old versions that may have rows: deleted or updated
 *     records) go, except that the rows of a `softDelete` table of a deleted record stay,
 *     marked with the delete's time. A create of a uri never stored has no rows to remove and
 *     is left out.
 *  2. addInserts: the rows of the new versions are added to the writer's CombinedStatement.
 *  3. resolveGroups: for types unique per creator and subject (like, repost, follow, block)
 *     the groups that lost a row or had an insert conflict are resolved.
 * Aggregates whose counts may change are pushed to `aggs` on the way.
 *
 * Groups: one row per group is kept, the others go to `duplicate_record` pointing at it, as
 * bsky does; but the row kept is the member with the lowest uri (rkeys are TIDs: the
 * earliest), not the first indexed, so the choice does not depend on delivery order. An
 * affected group is re-resolved from its members: the stored row, its duplicates (rebuilt
 * from `record.json`) and the new versions.
 */

/** Phase 1. Returns the main rows removed. */
export async function removeOld(trx: Tx, module: RecordModule, uris: readonly string[], aggs: AggKey[]): Promise<Row[]> {
  const stmt = new CombinedStatement()
  const collect = addRemoveOld(stmt, module, uris)
  await stmt.run(trx)
  return collect(aggs)
}

/**
 * Phase 1 as parts of a CombinedStatement (every record type's removals in one round trip):
 * returns a function to call after `run` that collects the aggregates and returns the main
 * rows removed.
 */
export function addRemoveOld(
  stmt: CombinedStatement,
  module: RecordModule,
  uris: readonly string[],
  marked: ReadonlyMap<string, string> = new Map(),
): (aggs: AggKey[]) => Row[] {
  if (uris.length === 0) return () => []
  const list = [...uris]
  const extraParts = module.extra.map((spec) => {
    if (spec.softDelete) {
      // `marked`: kept, with the delete's time (writer/soft-delete.ts); the others go
      const [gone, replaced] = [list.filter((u) => marked.has(u)), list.filter((u) => !marked.has(u))]
      if (gone.length) {
        stmt.add(sql`UPDATE ${sql.table(spec.table)} SET ${sql.ref(spec.softDelete)} = x.t
          FROM unnest(${gone}::text[], ${gone.map((u) => marked.get(u) ?? null)}::text[]) AS x(u, t)
          WHERE ${sql.ref(`${spec.table}.${spec.keyColumn}`)} = x.u`)
      }
      if (replaced.length) stmt.add(sql`DELETE FROM ${sql.table(spec.table)} WHERE ${sql.ref(spec.keyColumn)} = ANY(${replaced}::text[])`)
      return undefined
    }
    if (spec.agg) {
      const part = stmt.add(
        sql`DELETE FROM ${sql.table(spec.table)} WHERE ${sql.ref(spec.keyColumn)} = ANY(${list}::text[]) RETURNING ${sql.ref(spec.agg.column)}`,
        'rows',
      )
      return { agg: spec.agg, part }
    }
    stmt.add(sql`DELETE FROM ${sql.table(spec.table)} WHERE ${sql.ref(spec.keyColumn)} = ANY(${list}::text[])`)
    return undefined
  })
  const cols = sql.raw(module.main.columns.map((c) => `"${c.name}"`).join(', '))
  const mainPart = stmt.add(sql`DELETE FROM ${sql.table(module.main.table)} WHERE uri = ANY(${list}::text[]) RETURNING ${cols}`, 'rows')
  if (module.uniqueGroup) stmt.add(sql`DELETE FROM duplicate_record WHERE uri = ANY(${list}::text[])`)
  return (aggs) => {
    for (const e of extraParts) {
      if (!e) continue
      for (const r of stmt.rowsOf(e.part)) aggs.push({ kind: e.agg.kind, key: String(r[e.agg.column]) })
    }
    const removed = stmt.rowsOf(mainPart)
    for (const r of removed) aggs.push(...module.aggKeys(r))
    return removed
  }
}

/**
 * Phase 2. For group types rows are inserted skipping conflicts; a row that conflicted is
 * resolved in phase 3 (whatever the order, the lowest uri ends up kept). Rows sorted by uri
 * make the common case (several new members of one new group) need no resolution of the
 * kept row. Returns the part whose RETURNING lists the uris inserted (group types only).
 */
export function addInserts(stmt: CombinedStatement, module: RecordModule, rows: readonly ModuleRows[], aggs: AggKey[]): string | undefined {
  for (const r of rows) aggs.push(...module.aggKeys(r.main))
  if (!module.uniqueGroup) {
    addPlainInserts(stmt, module, rows)
    return undefined
  }
  const part = stmt.add(
    insertSql(
      module.main,
      rows.map((r) => r.main),
      IGNORE,
      ['uri'],
    ),
    true,
  )
  if (!part) return undefined
  for (const [i, spec] of module.extra.entries()) {
    stmt.add(
      insertSql(
        spec,
        rows.flatMap((r) => r.extra[i] ?? []),
        IGNORE,
        [],
        { column: spec.keyColumn, part },
      ),
    )
  }
  return part
}

/** Phase 3 (group types). `uris`/`removed` from phase 1, `rows`/`inserted` from phase 2. */
export async function resolveGroups(
  trx: Tx,
  module: RecordModule,
  uris: readonly string[],
  removedRows: readonly Row[],
  rows: readonly ModuleRows[],
  inserted: ReadonlySet<string>,
  aggs: AggKey[],
): Promise<void> {
  const group = module.uniqueGroup
  if (!group) return
  const mainCols = module.main.columns.map((c) => c.name)
  let removed = [...removedRows]
  const fresh = rows.filter((r) => !inserted.has(String(r.main.uri)))
  // A conflict on the uri itself (a row left by another writer without its `record` row):
  // remove that row so the group is resolved from the new version.
  const removedSet = new Set(uris)
  const leftovers = fresh.map((r) => String(r.main.uri)).filter((u) => !removedSet.has(u))
  if (leftovers.length) {
    await deleteExtras(trx, module, leftovers, aggs)
    const gone = await deleteWhereIn(trx, module.main.table, 'uri', leftovers, mainCols)
    for (const r of gone) aggs.push(...module.aggKeys(r))
    removed = [...removed, ...gone]
  }
  const gkey = (row: Row): string => JSON.stringify(group.map((c) => row[c] ?? null))
  const affected = new Map<string, Row>()
  for (const r of [...removed, ...fresh.map((f) => f.main)]) affected.set(gkey(r), r)
  if (affected.size === 0) return

  // Stored rows of the affected groups (after the removal above) and their duplicates.
  const cols = group.map((c) => sql.ref(c))
  const arrays = group.map((c) => sql`${[...affected.values()].map((r) => String(r[c]))}::text[]`)
  const stored = (
    await sql<Row>`SELECT ${sql.raw(mainCols.map((c) => `"${c}"`).join(', '))} FROM ${sql.table(module.main.table)}
      WHERE (${sql.join(cols)}) IN (SELECT * FROM unnest(${sql.join(arrays)}))`.execute(trx)
  ).rows
  const dupOf = [...stored.map((r) => String(r.uri)), ...removed.map((r) => String(r.uri))]
  const dups = dupOf.length
    ? (
        await sql<{ uri: string; cid: string; json: string; indexedAt: string }>`SELECT r.uri, r.cid, r.json, r."indexedAt"
          FROM duplicate_record d JOIN record r ON r.uri = d.uri WHERE d."duplicateOf" = ANY(${dupOf}::text[])`.execute(trx)
      ).rows
    : []

  type Member = { uri: string; rows: ModuleRows | null; storedRow: Row | null; cid: string; indexedAt: string; dup?: true }
  const members = new Map<string, Member[]>()
  const add = (m: Member, row: Row): void => {
    const k = gkey(row)
    const list = members.get(k)
    if (list) list.push(m)
    else members.set(k, [m])
  }
  for (const r of stored) add({ uri: String(r.uri), rows: null, storedRow: r, cid: String(r.cid), indexedAt: String(r.indexedAt) }, r)
  for (const f of fresh)
    add({ uri: String(f.main.uri), rows: f, storedRow: null, cid: String(f.main.cid), indexedAt: String(f.main.indexedAt) }, f.main)
  for (const d of dups) {
    const { did, collection, rkey } = parseUri(d.uri)
    const built = module.toRows({ uri: d.uri, did, collection, rkey, cid: d.cid, indexedAt: d.indexedAt }, JSON.parse(d.json) as LexRecord)
    if (built) add({ uri: d.uri, rows: built, storedRow: null, cid: d.cid, indexedAt: d.indexedAt, dup: true }, built.main)
  }

  const demote: string[] = []
  const promote: ModuleRows[] = []
  const duplicates: Row[] = []
  const undup: string[] = []
  for (const list of members.values()) {
    list.sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0))
    const rep = list[0]
    if (!rep) continue
    const current = list.find((m) => m.storedRow !== null)
    if (current && current !== rep) demote.push(current.uri)
    if (rep.storedRow === null && rep.rows) {
      promote.push(rep.rows)
      if (rep.dup) undup.push(rep.uri)
    }
    for (const m of list.slice(1)) duplicates.push({ uri: m.uri, cid: m.cid, duplicateOf: rep.uri, indexedAt: m.indexedAt })
  }
  if (demote.length) {
    await deleteExtras(trx, module, demote, aggs)
    await deleteWhereIn(trx, module.main.table, 'uri', demote)
  }
  await deleteWhereIn(trx, 'duplicate_record', 'uri', undup)
  await insertWithExtras(trx, module, promote)
  await insertRows(
    trx,
    {
      table: 'duplicate_record',
      keyColumn: 'uri',
      columns: ['uri', 'cid', 'duplicateOf', 'indexedAt'].map((name) => ({ name, type: 'text' as const })),
    },
    duplicates,
    'ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid, "duplicateOf" = excluded."duplicateOf", "indexedAt" = excluded."indexedAt"',
  )
}

/** Remove every derived row of the given uris (account deletion), collecting aggregates. */
export async function removeDerived(trx: Tx, module: RecordModule, uris: readonly string[], aggs: AggKey[]): Promise<void> {
  const removed = await removeOld(trx, module, uris, aggs)
  await resolveGroups(trx, module, uris, removed, [], new Set(), aggs)
}
