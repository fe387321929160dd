import { sql } from 'kysely'
import pLimit from 'p-limit'
import type { LexRecord, RecordWriteEvent } from '@firehose/streams'
import type { Logger } from '@firehose/service'
import type { Database } from '../db/database.js'
import { prepareEvents } from '../writer/prepare.js'
import { deriveStored } from '../writer/write-batch.js'

/**
 * The tables whose stored rows carry state derived from other records: post flags and
 * notifications (posts), notifications (the others). Each row's record is derived once.
 */
export const DERIVED_TABLES = ['post', 'profile', 'like', 'repost', 'follow', 'verification'] as const

export interface DeriveOptions {
  /** Records per transaction. */
  chunk: number
  /** Transactions at once, over all tables. */
  concurrency: number
  notifications?: boolean
  /** Attempts of a chunk on deadlock (a live batch locking the same keys). */
  retries?: number
  logger?: Logger
}

const RETRYABLE = new Set(['40P01', '40001'])

interface StoredRow {
  uri: string
  cid: string
  rev: string | null
  json: string
  indexedAt: string
}

/**
 * Derive every row of DERIVED_TABLES (bulk/finish.ts): chunks of `chunk` uris, read in uri order
 * table by table, derived `concurrency` at a time. `cursors` (table → last uri done) is where a
 * previous run got to; each table's cursor moves, in the load's row, past a chunk once it and
 * every chunk before it are derived, so a crash redoes at most the chunks in flight
 * (idempotent). Returns the records derived.
 */
export async function deriveAll(database: Database, cursors: Readonly<Record<string, string>>, opts: DeriveOptions): Promise<number> {
  const limit = pLimit(opts.concurrency)
  let derived = 0
  // the first failure stops every table's reading; what is in flight settles before it is thrown
  let failure: { err: unknown } | undefined
  const guard = async (work: () => Promise<void>): Promise<void> => {
    try {
      if (!failure) await work()
    } catch (err) {
      failure ??= { err }
    }
  }
  await Promise.all(
    DERIVED_TABLES.map(async (table) => {
      let after = cursors[table] ?? ''
      const inFlight: { last: string; done: boolean }[] = []
      const running: Promise<void>[] = []
      while (!failure) {
        // read ahead only as far as a worker is free: about `concurrency` chunks in memory
        let rows: StoredRow[] = []
        await guard(async () => {
          rows = await limit(() => readChunk(database, table, after, opts.chunk))
        })
        if (rows.length === 0) break
        const chunk = rows
        const slot = { last: (chunk[chunk.length - 1] as StoredRow).uri, done: false }
        after = slot.last
        inFlight.push(slot)
        running.push(
          guard(() =>
            limit(async () => {
              if (failure) return
              await deriveChunk(database, chunk, opts)
              slot.done = true
              derived += chunk.length
              let last: string | undefined
              while (inFlight[0]?.done) last = inFlight.shift()?.last
              if (last !== undefined) await saveCursor(database, table, last)
              opts.logger?.info({ step: 'derive', table, after: last, records: derived }, 'deriving')
            }),
          ),
        )
      }
      await Promise.all(running)
    }),
  )
  if (failure) throw failure.err
  return derived
}

const readChunk = async (database: Database, table: string, after: string, chunk: number): Promise<StoredRow[]> =>
  (
    await sql<StoredRow>`SELECT r.uri, r.cid, r.rev, r.json, r."indexedAt" FROM ${sql.table(table)} t
      CROSS JOIN LATERAL (SELECT * FROM record WHERE record.uri = t.uri LIMIT 1) r
      WHERE t.uri > ${after} ORDER BY t.uri LIMIT ${chunk}`.execute(database.db)
  ).rows

const saveCursor = (database: Database, table: string, last: string) =>
  sql`UPDATE indexer_bulk_load SET step = 'derive',
    "after" = jsonb_set(CASE WHEN coalesce("after", '') = '' THEN '{}'::jsonb ELSE "after"::jsonb END, ${`{${table}}`}::text[], to_jsonb(${last}::text))::text
    WHERE id = 1`.execute(database.db)

/** One chunk's records, as `create`s of their stored versions, through the writer's derive phases. */
async function deriveChunk(database: Database, rows: readonly StoredRow[], opts: DeriveOptions): Promise<void> {
  const events: RecordWriteEvent[] = rows.flatMap((r) => {
    // (a record written by bsky's indexer has no rev: not written by a bulk batch)
    if (r.rev === null) return []
    const [, , did, collection, rkey] = r.uri.split('/')
    if (!did || !collection || !rkey) return []
    const record = JSON.parse(r.json) as LexRecord
    return [{ type: 'create', seq: 0, time: r.indexedAt, did, commit: r.cid, rev: r.rev, collection, rkey, cid: r.cid, record }]
  })
  const prepared = prepareEvents(events, { stored: true })
  let attempts = (opts.retries ?? 5) + 1
  for (;;) {
    try {
      await database.db.transaction().execute((trx) => deriveStored(trx, prepared, { notifications: opts.notifications }))
      return
    } catch (err) {
      const code = (err as { code?: unknown }).code
      if (typeof code === 'string' && RETRYABLE.has(code) && --attempts > 0) continue
      throw err
    }
  }
}
