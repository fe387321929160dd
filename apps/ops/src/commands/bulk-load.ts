import pg from 'pg'
import { allShards, GROUPS, STREAMS } from '@firehose/streams'
import type { Command } from '../command.js'
import { redactUrl, str, type Context } from '../context.js'
import { OpsError, UsageError } from '../errors.js'
import { groupsOf, streamInfo } from '../redis-info.js'

/**
 * The bulk load of a first backfill as the indexer keeps it (its table `indexer_bulk_load`,
 * migration 0012; docs/design.md, docs/operations.md "The bulk load"), read-only.
 */
export interface BulkLoadStatus {
  /** none: never started (or the indexer's migrations have not run); open: bulk batches defer; finishing; finished. */
  state: 'none' | 'open' | 'finishing' | 'finished'
  startedAt: string | null
  closedAt: string | null
  finishedAt: string | null
  /** The finish's step (derive, sweep, recount, indexes, done) and how far it got (per table, for derive). */
  step: string | null
  after: unknown
  /** The AppView-only indexes the start dropped and the finish builds again. */
  deferredIndexes: number
  /** Postgres's estimate of the rows in `record` (pg_class.reltuples; -1 before the first ANALYZE). */
  recordsEstimate: number | null
}

export interface BackfillStreamStatus {
  stream: string
  length: number
  /** The indexers' group: entries not yet delivered (all of them before the group exists; null when Redis cannot say) and delivered, not acked. */
  lag: number | null
  pending: number
}

const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : String(v))

/** The load's row, read over a short-lived connection. */
export async function readBulkLoadStatus(databaseUrl: string): Promise<BulkLoadStatus> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 })
  try {
    await client.connect()
  } catch (e) {
    throw new OpsError(`cannot reach Postgres at ${redactUrl(databaseUrl)}: ${(e as Error).message}`)
  }
  try {
    const table = await client.query<{ exists: boolean }>(`SELECT to_regclass('indexer_bulk_load') IS NOT NULL AS exists`)
    const est = await client.query<{ n: number | null }>(`SELECT reltuples::float8 AS n FROM pg_class WHERE oid = to_regclass('record')`)
    const recordsEstimate = est.rows[0]?.n ?? null
    const none: BulkLoadStatus = {
      state: 'none',
      startedAt: null,
      closedAt: null,
      finishedAt: null,
      step: null,
      after: null,
      deferredIndexes: 0,
      recordsEstimate,
    }
    if (!table.rows[0]?.exists) return none
    const r = await client.query<Record<string, unknown>>(
      `SELECT "startedAt", "closedAt", "finishedAt", step, "after", jsonb_array_length("deferredIndexes") AS deferred
       FROM indexer_bulk_load WHERE id = 1`,
    )
    const row = r.rows[0]
    if (!row) return none
    let after: unknown = row.after ?? null
    if (typeof after === 'string') {
      try {
        after = JSON.parse(after)
      } catch {
        // a plain key (a step that keeps one cursor)
      }
    }
    return {
      state: row.closedAt === null ? 'open' : row.finishedAt === null ? 'finishing' : 'finished',
      startedAt: iso(row.startedAt),
      closedAt: iso(row.closedAt),
      finishedAt: iso(row.finishedAt),
      step: row.step === null ? null : String(row.step),
      after,
      deferredIndexes: Number(row.deferred ?? 0),
      recordsEstimate,
    }
  } catch (e) {
    if (e instanceof OpsError) throw e
    throw new OpsError(`reading the bulk load from Postgres: ${(e as Error).message}`)
  } finally {
    await client.end().catch(() => undefined)
  }
}

const WHAT_NEXT: Record<BulkLoadStatus['state'], string> = {
  none: 'no bulk load: the indexers write the normal path (start one with the indexer image: node dist/bulk-load.js start)',
  open: 'open: INDEXER_MODE=bulk indexers defer flags, notifications and counts; once firehose_backfill is drained, run node dist/bulk-load.js finish',
  finishing: 'finishing: node dist/bulk-load.js finish is deriving what the load deferred (run it again if it stopped: it resumes)',
  finished: 'finished: the database is complete; indexers may run INDEXER_MODE=normal',
}

export const bulkLoadCommand: Command = {
  name: 'bulk-load',
  usage: 'bulk-load [--database-url <url>] [--stream firehose_backfill] [--group indexer_group]',
  summary:
    "the first backfill's bulk load: its state and the finish's progress (Postgres, $DATABASE_URL), and what the indexers have left of firehose_backfill",
  options: { 'database-url': { type: 'string' }, stream: { type: 'string' }, group: { type: 'string', short: 'g' } },
  async run(ctx: Context) {
    const url = str(ctx.args, 'database-url') ?? ctx.env.DATABASE_URL
    if (!url) throw new UsageError('bulk-load reads the indexer’s Postgres: give --database-url or set DATABASE_URL', 'bulk-load')
    if (!/^postgres(ql)?:\/\//.test(url))
      throw new UsageError(`--database-url / DATABASE_URL must be a postgres:// URL, got "${redactUrl(url)}"`, 'bulk-load')
    // (the indexers' INDEXER_STREAMS / INDEXER_GROUP, when not the defaults)
    const base = str(ctx.args, 'stream') ?? STREAMS.firehoseBackfill
    const groupName = str(ctx.args, 'group') ?? GROUPS.indexer
    const load = await readBulkLoadStatus(url)
    const redis = await ctx.redis()
    const streams: BackfillStreamStatus[] = []
    for (const stream of allShards(base, ctx.shards)) {
      const info = await streamInfo(redis, stream)
      const group = info ? (await groupsOf(redis, stream)).find((g) => g.group === groupName) : undefined
      streams.push({ stream, length: info?.length ?? 0, lag: group ? group.lag : info ? info.length : 0, pending: group?.pending ?? 0 })
    }
    if (ctx.json) {
      ctx.out(`${JSON.stringify({ load, backfill: streams }, null, 2)}\n`)
      return
    }
    const lines = [
      `state            ${WHAT_NEXT[load.state]}`,
      `started          ${load.startedAt ?? '-'}`,
      `closed           ${load.closedAt ?? '-'}`,
      `finished         ${load.finishedAt ?? '-'}`,
      `finish step      ${load.step ?? '-'}${load.after === null ? '' : `  after ${JSON.stringify(load.after)}`}`,
      `deferred indexes ${load.deferredIndexes}`,
      `records (est.)   ${load.recordsEstimate === null || load.recordsEstimate < 0 ? '?' : Math.round(load.recordsEstimate)}`,
      '',
    ]
    ctx.out(lines.join('\n'))
    ctx.print(streams, [
      { header: 'stream', value: (r) => r.stream },
      { header: 'length', value: (r) => r.length, align: 'right' },
      { header: `lag (${groupName})`, value: (r) => r.lag ?? '?', align: 'right' },
      { header: 'pending', value: (r) => r.pending, align: 'right' },
    ])
  },
}
