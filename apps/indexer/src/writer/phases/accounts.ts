import { sql } from 'kysely'
import type { AccountEvent } from '@firehose/streams'
import { recordModules, type AggKey } from '../../records/index.js'
import { applyAccountStatus, newerActorEvents, upstreamStatus } from '../actors.js'
import { parseUri, removeDerived } from '../derived.js'
import { removeAccountNotifications } from '../notifications.js'
import type { Prepared } from '../prepare.js'
import { hasSoftDelete } from '../soft-delete.js'
import type { Tx } from '../sql.js'
import { latestBy } from './latest-by.js'
import type { BatchState } from './state.js'

/**
 * Account events older than the last applied one of their DID are stale (a redelivered old
 * event must not revert a status); the last one of each DID is kept in `lastAccount`.
 */
export async function findStaleAccountEvents(b: BatchState): Promise<void> {
  const newer = await newerActorEvents(b.trx, 'status', [...latestBy(b.accounts).values()])
  b.lastAccount = new Map(newer.map((e) => [e.did, e]))
  for (const e of b.accounts) if (b.lastAccount.get(e.did) !== e) b.outcomes.set(indexOfEvent(b.prepared, e), { status: 'stale' })
}

/** Account status; a deleted account's records (and notifications) go. */
export async function applyAccountEvents(b: BatchState): Promise<void> {
  for (const e of b.lastAccount.values()) {
    await applyAccountStatus(b.trx, e)
    if (upstreamStatus(e) === 'deleted') {
      await removeAccountRecords(b.trx, e.did, b.aggs)
      if (b.notifications) await removeAccountNotifications(b.trx, e.did)
    }
  }
}

const indexOfEvent = (prepared: readonly Prepared[], event: AccountEvent): number => {
  const p = prepared.find((x) => x.kind === 'other' && x.event === event)
  return p && p.kind === 'other' ? p.index : -1
}

/**
 * A deleted account: every record it wrote goes, with its derived rows and tombstones (and
 * the rows deleted records left in `softDelete` tables).
 */
async function removeAccountRecords(trx: Tx, did: string, aggs: AggKey[]): Promise<void> {
  const rows = await sql<{ uri: string }>`DELETE FROM record WHERE did = ${did} RETURNING uri`.execute(trx)
  const tombstones = await sql<{ uri: string }>`DELETE FROM record_tombstone WHERE did = ${did} RETURNING uri`.execute(trx)
  const soft = new Set(recordModules.filter(hasSoftDelete).map((m) => m.collection))
  const byCollection = new Map<string, string[]>()
  const add = (uri: string, onlyKept: boolean): void => {
    const { collection } = parseUri(uri)
    if (onlyKept && !soft.has(collection)) return
    const list = byCollection.get(collection)
    if (list) list.push(uri)
    else byCollection.set(collection, [uri])
  }
  for (const { uri } of rows.rows) add(uri, false)
  // a deleted record has rows left only in softDelete tables
  for (const { uri } of tombstones.rows) add(uri, true)
  for (const m of recordModules) {
    const uris = byCollection.get(m.collection)
    if (uris) await removeDerived(trx, m, uris, aggs)
  }
}
