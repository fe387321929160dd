#!/usr/bin/env node
/**
 * `node dist/recount-counters.js`: recount every `post_agg` / `profile_agg` counter from the base
 * tables. The counters kept by delta (migration 0011) do not heal themselves as recounts did: a
 * database restored or edited with the triggers off (`session_replication_role = replica`, a
 * bulk load, a manual fix), or written by a tool that bypassed them, keeps wrong counts until
 * this runs. Safe while indexers run: each chunk of keys is recounted in its own transaction
 * under the same advisory key locks the writers take before they add their deltas, so a batch
 * either committed before the count (counted) or adds its delta after it.
 *
 * Configured like the indexer: DATABASE_URL (through pgbouncer is fine); RECOUNT_CHUNK keys a
 * transaction (default 5000). Logs its progress (pino JSON) and a summary.
 */
import { sql } from 'kysely'
import { createLogger, isEntryPoint, type Logger } from '@firehose/service'
import { createDb, type Database } from './db/database.js'
import { recordModules, type AggKind, type AggTable } from './records/index.js'
import { KEY_COLUMN, recountAggregates } from './writer/aggregates.js'

/** Where the keys of each counter table are: the table itself and every counter's base rows. */
function keySources(): Map<AggTable, { sources: { table: string; column: string }[]; kinds: AggKind[] }> {
  const out = new Map<AggTable, { sources: { table: string; column: string }[]; kinds: AggKind[] }>()
  for (const a of recordModules.flatMap((m) => m.aggregates ?? [])) {
    let t = out.get(a.table)
    if (!t) out.set(a.table, (t = { sources: [{ table: a.table, column: KEY_COLUMN[a.table] }], kinds: [] }))
    t.kinds.push(a.kind)
    if (!t.sources.some((s) => s.table === a.rows.base && s.column === a.rows.column))
      t.sources.push({ table: a.rows.base, column: a.rows.column })
  }
  return out
}

/** The next `limit` keys after `after`, in order, from every source (each read by its index). */
async function nextKeys(database: Database, sources: { table: string; column: string }[], after: string, limit: number): Promise<string[]> {
  const parts = sources.map(
    (s) =>
      sql`(SELECT DISTINCT ${sql.ref(s.column)}::text AS k FROM ${sql.table(s.table)} WHERE ${sql.ref(s.column)} > ${after} ORDER BY 1 LIMIT ${limit})`,
  )
  const res = await sql<{ k: string }>`SELECT k FROM (${sql.join(parts, sql` UNION `)}) x ORDER BY k LIMIT ${limit}`.execute(database.db)
  return res.rows.map((r) => r.k)
}

export interface RecountResult {
  keys: number
  changed: number
}

/** Recount every counter of every key, `chunk` keys a transaction. */
export async function recountCounters(database: Database, opts: { chunk?: number; logger?: Logger } = {}): Promise<RecountResult> {
  const chunk = opts.chunk ?? 5000
  let keys = 0
  let changed = 0
  for (const [table, { sources, kinds }] of keySources()) {
    let after = ''
    for (;;) {
      const list = await nextKeys(database, sources, after, chunk)
      if (list.length === 0) break
      const before = await snapshot(database, table, list)
      await database.db.transaction().execute((trx) =>
        recountAggregates(
          trx,
          list.flatMap((key) => kinds.map((kind) => ({ kind, key }))),
          { absolute: true },
        ),
      )
      changed += countChanged(before, await snapshot(database, table, list))
      keys += list.length
      after = list[list.length - 1] as string
      opts.logger?.info({ table, keys, changed, after }, 'recounting counters')
    }
  }
  return { keys, changed }
}

/** The counter rows of `keys`, as text (to count the rows the recount changed). */
async function snapshot(database: Database, table: AggTable, keys: string[]): Promise<Map<string, string>> {
  const key = KEY_COLUMN[table]
  const res = await sql<{ k: string; v: string }>`SELECT ${sql.ref(key)} AS k, row_to_json(a)::text AS v FROM ${sql.table(table)} a
    WHERE ${sql.ref(key)} = ANY(${keys}::text[])`.execute(database.db)
  return new Map(res.rows.map((r) => [r.k, r.v]))
}

const countChanged = (before: Map<string, string>, after: Map<string, string>): number =>
  [...after].filter(([k, v]) => before.get(k) !== v).length

if (isEntryPoint(import.meta.url)) {
  const logger = createLogger('recount-counters')
  const url = process.env.DATABASE_URL
  const chunk = Number(process.env.RECOUNT_CHUNK ?? 5000)
  if (!url) {
    logger.error('DATABASE_URL is required')
    process.exit(2)
  }
  if (!Number.isInteger(chunk) || chunk < 1) {
    logger.error({ RECOUNT_CHUNK: process.env.RECOUNT_CHUNK }, 'RECOUNT_CHUNK must be a positive integer')
    process.exit(2)
  }
  const database = createDb(url, 2)
  try {
    const t0 = Date.now()
    const res = await recountCounters(database, { chunk, logger })
    logger.info({ ...res, seconds: Math.round((Date.now() - t0) / 1000) }, 'counters recounted')
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'recount failed')
    process.exitCode = 1
  } finally {
    await database.close()
  }
}
