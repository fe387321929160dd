import { sql, type Kysely } from 'kysely'
import type { DatabaseSchema } from '../db/schema.js'
import type { Row, TableSpec } from '../records/types.js'

export type Tx = Kysely<DatabaseSchema>

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`

/**
 * One multi-row INSERT for any number of rows: each column travels as one array parameter and
 * is `unnest`ed server-side, so the statement has as many parameters as columns (no 65535
 * parameter limit, little parse work) and is a plain unnamed statement (pgbouncer-safe).
 */
export async function insertRows(
  trx: Tx,
  spec: TableSpec,
  rows: readonly Row[],
  onConflict = '',
  returning: readonly string[] = [],
): Promise<Row[]> {
  if (rows.length === 0) return []
  const names = spec.columns.map((c) => ident(c.name)).join(', ')
  const aliases = spec.columns.map((_, i) => `c${i}`)
  const selects = spec.columns
    .map((c, i) => (c.type === 'jsonb' ? `c${i}::jsonb` : c.type === 'bool' ? `c${i}::boolean` : `c${i}`))
    .join(', ')
  const arrays = spec.columns.map((c) => {
    const values = rows.map((r) => {
      const v = r[c.name]
      return v === undefined || v === null ? null : String(v)
    })
    return sql`${values}::text[]`
  })
  const ret = returning.length ? ` RETURNING ${returning.map(ident).join(', ')}` : ''
  const res = await sql<Row>`INSERT INTO ${sql.table(spec.table)} (${sql.raw(names)})
    SELECT ${sql.raw(selects)} FROM unnest(${sql.join(arrays)}) AS t(${sql.raw(aliases.join(', '))})
    ${sql.raw(onConflict + ret)}`.execute(trx)
  return res.rows
}

/** DELETE … WHERE <column> = ANY($1) RETURNING the given columns. */
export async function deleteWhereIn(
  trx: Tx,
  table: string,
  column: string,
  values: readonly string[],
  returning: readonly string[] = [],
): Promise<Row[]> {
  if (values.length === 0) return []
  const ret = returning.length ? sql` RETURNING ${sql.raw(returning.map(ident).join(', '))}` : sql``
  const res = await sql<Row>`DELETE FROM ${sql.table(table)} WHERE ${sql.ref(column)} = ANY(${[...values]}::text[])${ret}`.execute(trx)
  return res.rows
}

/** Lock namespaces of `pg_advisory_xact_lock(int, int)`. */
export const LOCK_DID = 0x1dc5_0001
export const LOCK_AGG = 0x1dc5_0002

/**
 * Take transaction-scoped advisory locks on keys (hashed), in a global order (sorted hashes),
 * so two batches locking overlapping sets cannot deadlock on them. Released at COMMIT/ROLLBACK.
 */
export async function lockKeys(trx: Tx, namespace: number, keys: Iterable<string>): Promise<void> {
  const list = [...new Set(keys)]
  if (list.length === 0) return
  await sql`SELECT count(pg_advisory_xact_lock(${namespace}::int, h)) FROM (
      SELECT DISTINCT hashtext(k) AS h FROM unnest(${list}::text[]) AS k ORDER BY h
    ) AS s`.execute(trx)
}
