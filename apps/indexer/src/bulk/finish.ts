import { sql } from 'kysely'
import type { LexRecord, RecordWriteEvent } from '@firehose/streams'
import type { Logger } from '@firehose/service'
import type { Database } from '../db/database.js'
import { recountCounters } from '../recount-counters.js'
import { prepareEvents } from '../writer/prepare.js'
import { deriveStored } from '../writer/write-batch.js'
import { closeBulkLoad, readBulkLoad, stateOf, BulkLoadError } from './load.js'

/**
 * The tables whose stored rows carry state derived from other records: post flags and
 * notifications (posts), notifications (the others). Each row's record is derived once, in uri
 * order, table by table.
 */
export const DERIVED_TABLES = ['post', 'profile', 'like', 'repost', 'follow', 'verification'] as const

/** The finish's steps, in order; the load's row says which one it is at (a crash resumes there). */
export const FINISH_STEPS = [...DERIVED_TABLES.map((t) => `derive:${t}`), 'sweep', 'recount', 'done'] as const

export interface FinishOptions {
  /** Records per transaction (BULK_FINISH_CHUNK; default 1000). */
  chunk?: number
  notifications?: boolean
  logger?: Logger
  /** Attempts of a chunk on deadlock (a live batch locking the same keys). */
  retries?: number
}

export interface FinishResult {
  derived: number
  swept: number
  counters: number
}

const RETRYABLE = new Set(['40P01', '40001'])

/**
 * Finish the bulk load: close it (no batch defers any more), then derive, from what is stored,
 * everything the bulk-mode batches deferred: every stored post's flags and every stored record's
 * notifications (writer/write-batch.ts `deriveStored`: the rules and locks of the normal path),
 * notifications left to records no longer stored go (a bulk batch's delete did not remove
 * them), and every counter is recounted. Live indexers may write meanwhile: each step computes
 * from what is stored, under the locks their batches take. Resumable: the load's row records
 * the step and the last uri done, in the transaction that did it.
 */
export async function finishBulkLoad(database: Database, opts: FinishOptions = {}): Promise<FinishResult> {
  const chunk = opts.chunk ?? 1000
  const log = opts.logger
  const load = await readBulkLoad(database)
  if (!load) throw new BulkLoadError('no bulk load to finish (start one first)')
  const result: FinishResult = { derived: 0, swept: 0, counters: 0 }
  if (stateOf(load) === 'finished') return result
  await closeBulkLoad(database)
  let step = load.step ?? FINISH_STEPS[0]
  let after = load.after ?? ''
  log?.info({ step, after }, 'bulk load closed: batches no longer defer; deriving what they deferred')
  for (let i = FINISH_STEPS.indexOf(step as (typeof FINISH_STEPS)[number]); i < FINISH_STEPS.length; i++) {
    step = FINISH_STEPS[i] as string
    if (step === 'done') break
    if (step.startsWith('derive:')) result.derived += await deriveTable(database, step.slice('derive:'.length), after, chunk, opts)
    else if (step === 'sweep') result.swept += await sweepNotifications(database, after, chunk, log)
    else if (step === 'recount') result.counters += (await recountCounters(database, { chunk: chunk * 5, logger: log })).keys
    after = ''
    await setStep(database, FINISH_STEPS[i + 1] as string, '')
  }
  await sql`UPDATE indexer_bulk_load SET "finishedAt" = now(), step = 'done', "after" = NULL WHERE id = 1`.execute(database.db)
  log?.info(result, 'bulk load finished')
  return result
}

const setStep = (database: Database, step: string, after: string) =>
  sql`UPDATE indexer_bulk_load SET step = ${step}, "after" = ${after} WHERE id = 1`.execute(database.db)

/** Derive the records of one table's rows, `chunk` a transaction, in uri order after `after`. */
async function deriveTable(database: Database, table: string, after: string, chunk: number, opts: FinishOptions): Promise<number> {
  let done = 0
  for (;;) {
    const rows = await sql<{ uri: string; cid: string; did: string; rev: string | null; json: string; indexedAt: string }>`
      SELECT r.uri, r.cid, r.did, r.rev, r.json, r."indexedAt" FROM ${sql.table(table)} t
        CROSS JOIN LATERAL (SELECT * FROM record WHERE record.uri = t.uri LIMIT 1) r
      WHERE t.uri > ${after} ORDER BY t.uri LIMIT ${chunk}`.execute(database.db)
    if (rows.rows.length === 0) return done
    const events: RecordWriteEvent[] = rows.rows.flatMap((r) => {
      // (a record written by bsky's indexer has no rev: not written by a bulk batch)
      if (r.rev === null) return []
      const [, , did, collection, rkey] = r.uri.split('/')
      if (!did || !collection || !rkey) return []
      return [
        {
          type: 'create',
          seq: 0,
          time: r.indexedAt,
          did,
          commit: r.cid,
          rev: r.rev,
          collection,
          rkey,
          cid: r.cid,
          record: JSON.parse(r.json) as LexRecord,
        },
      ]
    })
    const last = rows.rows[rows.rows.length - 1]?.uri as string
    let attempts = (opts.retries ?? 5) + 1
    for (;;) {
      try {
        await database.db.transaction().execute(async (trx) => {
          await deriveStored(trx, prepareEvents(events), { notifications: opts.notifications })
          await sql`UPDATE indexer_bulk_load SET step = ${`derive:${table}`}, "after" = ${last} WHERE id = 1`.execute(trx)
        })
        break
      } catch (err) {
        const code = (err as { code?: unknown }).code
        if (typeof code === 'string' && RETRYABLE.has(code) && --attempts > 0) continue
        throw err
      }
    }
    done += rows.rows.length
    after = last
    opts.logger?.info({ step: `derive:${table}`, after, records: done }, 'deriving')
  }
}

/**
 * Notifications whose record is no longer stored: rows exist only for stored records (and
 * `unverified` ones for deleted verifications), and a bulk batch's delete did not remove them.
 */
async function sweepNotifications(database: Database, after: string, chunk: number, log?: Logger): Promise<number> {
  let swept = 0
  let from = after === '' ? 0n : BigInt(after)
  for (;;) {
    const r = await sql<{ last: string | null; gone: string }>`WITH ids AS (
        SELECT id FROM notification WHERE id > ${String(from)}::bigint ORDER BY id LIMIT ${chunk * 10}
      ), gone AS (
        DELETE FROM notification n USING ids WHERE n.id = ids.id AND n.reason <> 'unverified'
          AND NOT EXISTS (SELECT 1 FROM record r WHERE r.uri = n."recordUri") RETURNING 1
      ), step AS (
        UPDATE indexer_bulk_load SET step = 'sweep', "after" = (SELECT max(id)::text FROM ids) WHERE id = 1 AND EXISTS (SELECT 1 FROM ids)
      )
      SELECT (SELECT max(id)::text FROM ids) AS last, (SELECT count(*) FROM gone)::text AS gone`.execute(database.db)
    const row = r.rows[0]
    swept += Number(row?.gone ?? 0)
    if (!row?.last) return swept
    from = BigInt(row.last)
    log?.info({ step: 'sweep', after: row.last, swept }, 'sweeping notifications of records gone')
  }
}
