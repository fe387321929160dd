import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { DatabaseSchema } from '../db/schema.js'
import type { Row, TableSpec } from '../records/types.js'

export type Tx = Kysely<DatabaseSchema>

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`

/**
 * One multi-row INSERT for any number of rows: each column travels as one array parameter and
 * is `unnest`ed server-side, so the statement has as many parameters as columns (no 65535
 * parameter limit, little parse work) and is a plain unnamed statement (pgbouncer-safe).
 * `onlyIf` keeps the rows whose `column` is among the uris another part of a
 * CombinedStatement returned. Null when there are no rows.
 */
export function insertSql(
  spec: TableSpec,
  rows: readonly Row[],
  onConflict = '',
  returning: readonly string[] = [],
  onlyIf?: { column: string; part: string },
): RawBuilder<unknown> | null {
  if (rows.length === 0) return null
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
  const filterIdx = onlyIf ? spec.columns.findIndex((c) => c.name === onlyIf.column) : -1
  const where = onlyIf && filterIdx >= 0 ? ` WHERE c${filterIdx} IN (SELECT uri FROM ${onlyIf.part})` : ''
  const ret = returning.length ? ` RETURNING ${returning.map(ident).join(', ')}` : ''
  return sql`INSERT INTO ${sql.table(spec.table)} (${sql.raw(names)})
    SELECT ${sql.raw(selects)} FROM unnest(${sql.join(arrays)}) AS t(${sql.raw(aliases.join(', '))})${sql.raw(where)}
    ${sql.raw(onConflict + ret)}`
}

export async function insertRows(
  trx: Tx,
  spec: TableSpec,
  rows: readonly Row[],
  onConflict = '',
  returning: readonly string[] = [],
): Promise<Row[]> {
  const q = insertSql(spec, rows, onConflict, returning)
  if (!q) return []
  return (await sql<Row>`${q}`.execute(trx)).rows
}

/** DELETE … WHERE <column> = ANY($1), as a part; null when there are no values. */
export function deleteSql(table: string, column: string, values: readonly string[]): RawBuilder<unknown> | null {
  if (values.length === 0) return null
  return sql`DELETE FROM ${sql.table(table)} WHERE ${sql.ref(column)} = ANY(${[...values]}::text[])`
}

/**
 * Several writes to different rows sent as ONE statement (data-modifying CTEs): one round trip
 * instead of one per table. A part may RETURN `uri`s (`returns` true), which `run` hands back by
 * part name and later parts may filter on (`insertSql(…, onlyIf)`), or whole rows (`'rows'`),
 * which `rowsOf` hands back after `run`.
 */
export class CombinedStatement {
  private readonly parts: { name: string; body: RawBuilder<unknown>; returns: boolean | 'rows' }[] = []
  private readonly rows = new Map<string, Row[]>()

  add(body: RawBuilder<unknown> | null, returns: boolean | 'rows' = false): string | undefined {
    if (!body) return undefined
    const name = `w${this.parts.length}`
    this.parts.push({ name, body, returns })
    return name
  }

  /** The rows a `'rows'` part returned (after `run`). */
  rowsOf(part: string | undefined): Row[] {
    return part ? (this.rows.get(part) ?? []) : []
  }

  async run(trx: Tx): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>()
    if (this.parts.length === 0) return out
    const withs = sql.join(
      this.parts.map((p) => sql`${sql.raw(p.name)} AS (${p.body})`),
      sql`, `,
    )
    const rets = this.parts.filter((p) => p.returns)
    const select = rets.length
      ? sql.join(
          rets.map((p) =>
            p.returns === 'rows'
              ? sql`SELECT ${sql.lit(p.name)}::text AS part, NULL::text AS uri, row_to_json(${sql.raw(p.name)})::text AS row FROM ${sql.raw(p.name)}`
              : sql`SELECT ${sql.lit(p.name)}::text AS part, uri::text AS uri, NULL::text AS row FROM ${sql.raw(p.name)}`,
          ),
          sql` UNION ALL `,
        )
      : sql`SELECT NULL::text AS part, NULL::text AS uri, NULL::text AS row WHERE false`
    const res = await sql<{ part: string; uri: string | null; row: string | null }>`WITH ${withs} ${select}`.execute(trx)
    for (const p of rets) {
      if (p.returns === 'rows') this.rows.set(p.name, [])
      else out.set(p.name, new Set())
    }
    for (const r of res.rows) {
      if (r.row !== null) this.rows.get(r.part)?.push(JSON.parse(r.row) as Row)
      else if (r.uri !== null) out.get(r.part)?.add(r.uri)
    }
    return out
  }
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

/** Lock namespaces of `pg_advisory_xact_lock(int, int)`, in the order they are taken. */
export const LOCK_DID = 0x1dc5_0001
export const LOCK_URI = 0x1dc5_0003
export const LOCK_AGG = 0x1dc5_0002
/** Unique groups (one like per creator and subject): after the uri locks, before LOCK_AGG. */
export const LOCK_GROUP = 0x1dc5_0004
/**
 * The bulk load (key 0, migration 0012): each batch takes it SHARED first, before any other lock,
 * to read whether a load is open; closing the load takes it exclusively, alone in its transaction.
 */
export const LOCK_BULK = 0x1dc5_0005

/**
 * The locks a batch takes before reading stored versions, in ONE statement and one global
 * order (DID namespace, then uri namespace, each by hash), so overlapping batches cannot
 * deadlock on them: an exclusive lock on each record uri written or deleted, a SHARED lock
 * on each DID with record ops (they do not exclude each other, so batches of the same DIDs
 * but different records run concurrently) and an exclusive one on the DIDs of account and
 * identity events (which change the actor, or delete every record of the DID); then `groups`
 * (LOCK_GROUP: exclusive true, shared false), the unique groups and reply pairs of the new
 * versions (called again with groups alone for the stored versions, once they are read).
 */
export async function lockBatch(
  trx: Tx,
  exclusiveDids: Iterable<string>,
  sharedDids: Iterable<string>,
  uris: Iterable<string>,
  sharedUris: Iterable<string> = [],
  groups: ReadonlyMap<string, boolean> = new Map(),
): Promise<void> {
  const keys = new Map<string, boolean>()
  for (const [g, x] of groups) keys.set(`g${g}`, x)
  for (const d of exclusiveDids) keys.set(`d${d}`, true)
  for (const d of sharedDids) if (!keys.has(`d${d}`)) keys.set(`d${d}`, false)
  for (const u of uris) keys.set(`u${u}`, true)
  for (const u of sharedUris) if (!keys.has(`u${u}`)) keys.set(`u${u}`, false)
  if (keys.size === 0) return
  const list = [...keys.keys()]
  // jit off for the rest of the transaction (SET LOCAL, pgbouncer-safe), in this first
  // statement: the batch statements' cost estimates pass jit_above_cost, and compiling them took
  // ~240 ms a statement (the post-flags read: 137 ms a batch with JIT, 12 ms without).
  await sql`SELECT set_config('jit', 'off', true), count(CASE WHEN x THEN pg_advisory_xact_lock(ns, h) ELSE pg_advisory_xact_lock_shared(ns, h) END) FROM (
      SELECT CASE left(k, 1) WHEN 'd' THEN ${LOCK_DID}::int WHEN 'u' THEN ${LOCK_URI}::int ELSE ${LOCK_GROUP}::int END AS ns,
        hashtext(substr(k, 2)) AS h, bool_or(x) AS x
      FROM unnest(${list}::text[], ${[...keys.values()]}::boolean[]) AS t(k, x)
      GROUP BY 1, 2 ORDER BY 1, 2
    ) AS s`.execute(trx)
}

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
