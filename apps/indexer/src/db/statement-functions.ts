import { createHash } from 'node:crypto'
import { sql, type RawBuilder } from 'kysely'
import type { Tx } from '../writer/sql.js'

/*
 * Statements whose plan Postgres keeps. Through pgbouncer's transaction pooling (1.18: no
 * protocol-level prepared statements) every statement the writer sends is parsed and planned
 * again; for its largest ones that was 2–5 ms a batch each (pg_stat_statements' plan time: 43 µs
 * of Postgres a record in all, the notification statement 18 of it). A PL/pgSQL function's
 * statements are prepared once per server connection and, after a few runs, executed with a
 * generic plan, whichever client pgbouncer lends the connection to.
 *
 * The function's name carries a hash of its definition: a build defines and calls its own, so
 * indexers of two builds sharing a database each run their own version of the statement
 * (a rolling upgrade), and a changed statement needs no migration. The migrator creates the
 * functions of this build (`ensureStatementFunctions`), under its lock, after the migrations.
 */
export interface StatementFunction {
  /** `<prefix>_<hash of the definition>`. */
  readonly name: string
  /** Postgres types of the arguments, in order ($1, $2, … in the body). */
  readonly argTypes: readonly string[]
  /** What the function returns: nothing, or the rows of the statement (`TABLE(column type, …)`). */
  readonly returns: 'void' | `TABLE(${string})`
  readonly body: string
}

/**
 * The settings the function's statement is planned with. A generic plan is kept for the server
 * connection's life, or until an ANALYZE of a table it reads: made on the small tables of a new
 * database, it chose sequential scans where an index serves (the notification statement's
 * DELETE read the whole table each batch), and kept them while the tables grew. Every statement
 * here reads by index probes, whatever the size of the tables: a sequential scan is never the
 * plan meant (db/statement-functions.test.ts).
 */
const SETTINGS = 'SET plan_cache_mode = force_generic_plan SET enable_seqscan = off'

/**
 * A statement taking `argTypes` as $1…$n, run by a PL/pgSQL function named after it; `returns`
 * a TABLE for a query whose rows the caller reads (its columns' types exactly the query's).
 */
export function statementFunction(
  prefix: string,
  argTypes: readonly string[],
  body: string,
  returns: StatementFunction['returns'] = 'void',
): StatementFunction {
  const hash = createHash('sha256')
    .update(`${argTypes.join(',')}\n${returns}\n${SETTINGS}\n${body}`)
    .digest('hex')
    .slice(0, 16)
  return { name: `${prefix}_${hash}`, argTypes, returns, body }
}

/** The function's DDL. */
export function statementFunctionDdl(f: StatementFunction): string {
  if (f.body.includes('$stmt$')) throw new Error(`${f.name}: the body contains the function's quote`)
  // (a TABLE's column names are variables of the function: the statement's own columns win)
  const [prologue, run] = f.returns === 'void' ? ['', ''] : ['#variable_conflict use_column\n', 'RETURN QUERY ']
  return `CREATE OR REPLACE FUNCTION ${f.name}(${f.argTypes.join(', ')}) RETURNS ${f.returns} LANGUAGE plpgsql VOLATILE
  ${SETTINGS} AS $stmt$
${prologue}BEGIN
${run}${f.body};
END
$stmt$`
}

/** Create those of `fns` that do not exist yet (the caller holds the migration lock). */
export async function ensureStatementFunctions(trx: Tx, fns: readonly StatementFunction[]): Promise<string[]> {
  if (fns.length === 0) return []
  const names = fns.map((f) => f.name)
  const found = await sql<{ proname: string }>`SELECT proname FROM pg_proc
    WHERE proname = ANY(${names}::text[]) AND pronamespace = current_schema()::regnamespace`.execute(trx)
  const have = new Set(found.rows.map((r) => r.proname))
  const created: string[] = []
  for (const f of fns) {
    if (have.has(f.name)) continue
    await sql.raw(statementFunctionDdl(f)).execute(trx)
    created.push(f.name)
  }
  return created
}

/**
 * Whether `err` is Postgres not finding one of `fns` (dropped, or a database restored from
 * before this build migrated it): the caller creates them and tries again.
 */
export function isMissingStatementFunction(err: unknown, fns: readonly StatementFunction[]): boolean {
  const e = err as { code?: unknown; message?: unknown } | null
  if (typeof e !== 'object' || e === null || e.code !== '42883' || typeof e.message !== 'string') return false
  const message = e.message
  return fns.some((f) => message.includes(f.name))
}

/**
 * `SELECT <fn>($1, …)` (`SELECT * FROM <fn>(…)` for a TABLE) with the given values, each cast to
 * its argument's type.
 */
export function callStatementFunction<R = unknown>(f: StatementFunction, values: readonly unknown[]): RawBuilder<R> {
  if (values.length !== f.argTypes.length) throw new Error(`${f.name}: ${values.length} values for ${f.argTypes.length} arguments`)
  const args = values.map((v, i) => sql`${v}::${sql.raw(f.argTypes[i] as string)}`)
  const call = sql`${sql.raw(f.name)}(${sql.join(args)})`
  return f.returns === 'void' ? sql<R>`SELECT ${call}` : sql<R>`SELECT * FROM ${call}`
}
