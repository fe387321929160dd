import { sql } from 'kysely'
import {
  AGG_KINDS,
  recordModules,
  type AggKey,
  type AggKind,
  type AggregateCount,
  type AggTable,
  type RecordModule,
} from '../records/index.js'
import { CombinedStatement, LOCK_AGG, lockKeys, type Tx } from './sql.js'

interface AggTableSpec {
  key: 'uri' | 'did'
  /** Counter column → count of base rows for key `k`, in the table's column order. */
  counts: Partial<Record<AggKind, string>>
}

/** The key column of each counter table. */
export const KEY_COLUMN: Record<AggTable, 'uri' | 'did'> = { post_agg: 'uri', profile_agg: 'did' }

/**
 * The aggregate tables from the record modules' declarations (`RecordModule.aggregates`): each
 * counter counted by exactly one module, listed in AGG_KINDS order.
 */
export function aggregateTables(modules: readonly RecordModule[]): Map<AggTable, AggTableSpec> {
  const declared = new Map<AggKind, AggregateCount>()
  for (const m of modules) {
    for (const a of m.aggregates ?? []) {
      if (declared.has(a.kind)) throw new Error(`aggregate ${a.kind} is counted by two record modules`)
      declared.set(a.kind, a)
    }
  }
  const tables = new Map<AggTable, AggTableSpec>()
  for (const kind of AGG_KINDS) {
    const a = declared.get(kind)
    if (!a) throw new Error(`no record module counts aggregate ${kind}`)
    let spec = tables.get(a.table)
    if (!spec) tables.set(a.table, (spec = { key: KEY_COLUMN[a.table], counts: {} }))
    spec.counts[kind] = a.count
  }
  return tables
}

const TABLES = aggregateTables(recordModules)
const TABLE_OF = new Map([...TABLES].flatMap(([table, spec]) => Object.keys(spec.counts).map((kind) => [kind as AggKind, table])))

const tableOf = (kind: AggKind): AggTable => TABLE_OF.get(kind) as AggTable
/** The counters kept by delta (`AggregateCount.delta`). */
const DELTA = new Set(recordModules.flatMap((m) => (m.aggregates ?? []).flatMap((a) => (a.delta ? [a.kind] : []))))

/** Turn on counter deltas for this transaction (migration 0011): before any base row is written. */
export async function enableCounterDeltas(trx: Tx): Promise<void> {
  await sql`SELECT indexer_counter_deltas_on()`.execute(trx)
}

/** The deltas the transaction's statements recorded so far, by counter kind and key; taken (each applied once). */
async function takeDeltas(trx: Tx): Promise<(AggKey & { delta: bigint })[]> {
  const r = await sql<{
    counter: AggKind
    k: string
    d: string
  }>`WITH taken AS (DELETE FROM pg_temp.indexer_counter_delta RETURNING counter, k, d)
    SELECT counter, k, sum(d)::text AS d FROM taken GROUP BY 1, 2`.execute(trx)
  return r.rows.map((x) => ({ kind: x.counter, key: x.k, delta: BigInt(x.d) }))
}

/**
 * Bring the touched counters up to date: one statement for the whole batch (a part per
 * aggregate table), each hot row once however many events touched it, and only the counters
 * that were touched. The keys are first locked (advisory, sorted): an update must start after
 * any concurrent batch that changed the same counter has committed, or both could write a
 * count that misses the other's rows.
 *
 *  - A counter kept by delta (`AggregateCount.delta`: all of them today) is moved by the counted
 *    rows this transaction's statements added and removed (recorded by the triggers of migration
 *    0011): replays and reorderings add and remove no row, so they move nothing; cost
 *    independent of the key's size.
 *  - Any other counter is recounted from the base tables.
 *  - A row that does not exist yet gets every counter counted. An untouched counter keeps its
 *    stored value (sentinel -1, or delta 0, in the inserted row).
 */
export async function recountAggregates(trx: Tx, keys: readonly AggKey[], opts: { absolute?: boolean } = {}): Promise<number> {
  // absolute: every counter recounted from the base tables (recount-counters.ts), no delta read
  const byDelta = (kind: AggKind): boolean => !opts.absolute && DELTA.has(kind)
  const byTable = new Map<AggTable, Map<string, Map<AggKind, bigint>>>()
  const touch = (kind: AggKind, key: string, delta: bigint) => {
    const table = tableOf(kind)
    let m = byTable.get(table)
    if (!m) byTable.set(table, (m = new Map()))
    let kinds = m.get(key)
    if (!kinds) m.set(key, (kinds = new Map()))
    kinds.set(kind, (kinds.get(kind) ?? 0n) + delta)
  }
  for (const { kind, key } of keys) if (key) touch(kind, key, 0n)
  if (!opts.absolute) for (const { kind, key, delta } of await takeDeltas(trx)) if (key) touch(kind, key, delta)
  if (byTable.size === 0) return 0
  await lockKeys(
    trx,
    LOCK_AGG,
    [...byTable].flatMap(([table, m]) => [...m.keys()].map((k) => `${table}:${k}`)),
  )
  let rows = 0
  const stmt = new CombinedStatement()
  for (const [table, m] of byTable) {
    const spec = TABLES.get(table) as AggTableSpec
    const kinds = Object.keys(spec.counts) as AggKind[]
    const list = [...m.keys()].sort()
    // per counter: a delta (kept by delta) or whether it was touched (recounted)
    const params = kinds.map((kind) =>
      byDelta(kind)
        ? sql`${list.map((k) => String(m.get(k)?.get(kind) ?? 0n))}::bigint[]`
        : sql`${list.map((k) => m.get(k)?.has(kind) ?? false)}::boolean[]`,
    )
    const aliases = kinds.map((_, i) => `f${i}`).join(', ')
    // `a.k IS NULL`: no row yet, count every counter. One index probe per key (LATERAL …
    // LIMIT 1): a NOT EXISTS per counter was planned as a hashed subplan scanning the whole
    // table, and a plain LEFT JOIN as a hash join, also scanning it.
    const values = kinds
      .map((kind, i) =>
        byDelta(kind)
          ? `CASE WHEN a.${spec.key} IS NULL THEN (${spec.counts[kind]}) ELSE f${i} END`
          : `CASE WHEN f${i} OR a.${spec.key} IS NULL THEN (${spec.counts[kind]}) ELSE -1 END`,
      )
      .join(', ')
    const sets = kinds
      .map((kind) =>
        byDelta(kind)
          ? `"${kind}" = ${table}."${kind}" + excluded."${kind}"`
          : `"${kind}" = CASE WHEN excluded."${kind}" >= 0 THEN excluded."${kind}" ELSE ${table}."${kind}" END`,
      )
      .join(', ')
    const changed = kinds
      .map((kind) => (byDelta(kind) ? `excluded."${kind}" <> 0` : `(excluded."${kind}" >= 0 AND excluded."${kind}" <> ${table}."${kind}")`))
      .join(' OR ')
    stmt.add(sql`INSERT INTO ${sql.table(table)} (${sql.raw(spec.key)}, ${sql.raw(kinds.map((k) => `"${k}"`).join(', '))})
      SELECT x.k, ${sql.raw(values)} FROM unnest(${list}::text[], ${sql.join(params)}) AS x(k, ${sql.raw(aliases)})
        LEFT JOIN LATERAL (SELECT ${sql.raw(spec.key)} FROM ${sql.table(table)} WHERE ${sql.raw(spec.key)} = x.k LIMIT 1) a ON true
      ON CONFLICT (${sql.raw(spec.key)}) DO UPDATE SET ${sql.raw(sets)} WHERE ${sql.raw(changed)}`)
    rows += list.length
  }
  await stmt.run(trx)
  return rows
}

/**
 * The counter rows of the touched keys, inserted when missing (counts left as they are): while a
 * bulk load defers the counts (its finish recounts every row), a batch still makes the rows a
 * normal batch would, so that the same keys have rows either way. Sorted: concurrent batches
 * wait for each other's rows in one order.
 */
export async function addCounterRows(trx: Tx, keys: readonly AggKey[]): Promise<void> {
  const byTable = new Map<AggTable, Set<string>>()
  for (const { kind, key } of keys) {
    if (!key) continue
    const table = tableOf(kind)
    let s = byTable.get(table)
    if (!s) byTable.set(table, (s = new Set()))
    s.add(key)
  }
  const stmt = new CombinedStatement()
  for (const [table, set] of byTable) {
    const key = KEY_COLUMN[table]
    stmt.add(sql`INSERT INTO ${sql.table(table)} (${sql.ref(key)}) SELECT k FROM unnest(${[...set].sort()}::text[]) AS k ORDER BY k
      ON CONFLICT (${sql.ref(key)}) DO NOTHING`)
  }
  await stmt.run(trx)
}
