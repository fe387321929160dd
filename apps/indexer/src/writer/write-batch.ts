import { sql } from 'kysely'
import type { AccountEvent, IdentityEvent, LexRecord, RecordWriteEvent, RepoEvent } from '@firehose/streams'
import { recordModules, type AggKey, type RecordModule, type Row } from '../records/index.js'
import { hasSoftDelete, planSoftDeletes, type StoredTombstone } from './soft-delete.js'
import { recountAggregates } from './aggregates.js'
import { applyAccountStatus, applyHandle, eventTime, newerActorEvents, upstreamStatus } from './actors.js'
import { updatePostFlags } from './post-flags.js'
import { addInserts, addRemoveOld, parseUri, removeDerived, resolveGroups, type ModuleRows } from './derived.js'
import { compareOps, isWrite, reduceOps, type Prepared, type RecordOp } from './prepare.js'
import { CombinedStatement, deleteSql, insertSql, lockBatch, type Tx } from './sql.js'

/*
 * THE INVARIANT (every other module relies on it): the tables are a function of the SET of
 * events applied, not of their order, batching or repetition.
 *  - For each uri the winning version is the greatest event by `compareOps` (rev, then delete
 *    over write, then cid). A write applies only when it is >= the stored version (`record.rev`,
 *    `record.cid`) and newer than the uri's tombstone; a delete applies when its rev is >= the
 *    stored rev, removes the record and upserts a tombstone carrying its rev, so a late, older
 *    create cannot bring the record back. Within a batch the events of one uri are first
 *    reduced to their winner with the same order.
 *  - Derived rows (post, like, feed_item, …) are rebuilt from the winning version; in groups
 *    bsky keeps unique (one like per creator and subject) the lowest uri is kept.
 *  - Aggregates are recounted from the base tables, never incremented, once per touched key
 *    per batch; the keys touched include those of stale writes, so whether a write won does
 *    not change which aggregate rows exist.
 *  - `actor_sync` only moves forward (greatest repoRev).
 * Concurrent batches lock the uris they write (advisory, transaction-scoped; their DIDs shared,
 * the DIDs of account and identity events exclusively) before reading stored versions, and
 * aggregate keys before recounting. `actor` / `actor_sync` rows (insert-if-missing, forward
 * only: commutative) are written right after the commit, so that batches of the same DIDs do
 * not queue behind each other's row locks on them for a whole transaction.
 */

export type OutcomeStatus = 'applied' | 'unchanged' | 'stale' | 'invalid' | 'ignored' | 'failed'

export interface EventOutcome {
  status: OutcomeStatus
  /** Set for `invalid` and `failed`. */
  error?: Error
}

export interface WriteStats {
  aggregateKeys: number
}

/** What a batch writes to `actor` / `actor_sync` after its transaction (see addActorsAndSync). */
export interface ActorWrites {
  firstSeen: Map<string, string>
  sync: Map<string, { commit: string; rev: string }>
}

const text = (names: string[]) => names.map((name) => ({ name, type: 'text' as const }))
const RECORD_SPEC = { table: 'record', keyColumn: 'uri', columns: text(['uri', 'cid', 'did', 'json', 'indexedAt', 'rev']) }
const TOMBSTONE_SPEC = { table: 'record_tombstone', keyColumn: 'uri', columns: text(['uri', 'did', 'rev', 'deletedAt', 'versionRev']) }

const latestBy = <E extends { did: string; seq: number; time: string }>(events: E[]): Map<string, E> => {
  const out = new Map<string, E>()
  for (const e of events) {
    const cur = out.get(e.did)
    const [et, ct] = [eventTime(e.time), cur ? eventTime(cur.time) : '']
    if (!cur || et > ct || (et === ct && e.seq >= cur.seq)) out.set(e.did, e)
  }
  return out
}

const indexOfEvent = (prepared: readonly Prepared[], event: AccountEvent): number => {
  const p = prepared.find((x) => x.kind === 'other' && x.event === event)
  return p && p.kind === 'other' ? p.index : -1
}

/**
 * Write prepared events inside the caller's transaction. `handles` holds the verified handle of
 * each identity event (by event index). Returns the outcome of every prepared event.
 */
export async function writeBatch(
  trx: Tx,
  prepared: readonly Prepared[],
  handles: ReadonlyMap<number, string | null | undefined>,
): Promise<{ outcomes: Map<number, EventOutcome>; stats: WriteStats; actors: ActorWrites }> {
  const outcomes = new Map<number, EventOutcome>()
  const ops: RecordOp[] = []
  const repos: RepoEvent[] = []
  const accounts: AccountEvent[] = []
  const identities: { index: number; event: IdentityEvent }[] = []
  for (const p of prepared) {
    if (p.kind === 'record') ops.push(p.op)
    else if (p.kind === 'invalid') outcomes.set(p.index, { status: 'invalid', error: p.error })
    else if (p.kind === 'ignored') outcomes.set(p.index, { status: 'ignored' })
    else {
      outcomes.set(p.index, { status: 'applied' })
      if (p.event.type === 'repo') repos.push(p.event)
      else if (p.event.type === 'account') accounts.push(p.event)
      else if (p.event.type === 'identity') identities.push({ index: p.index, event: p.event })
    }
  }
  // Unique groups and reply pairs of the new versions are locked with the uris; those of
  // stored versions (deletes, updates) once the version lookup has read them.
  const newGroups = groupKeys(ops.filter(isWrite), new Map())
  await lockBatch(
    trx,
    [...accounts, ...identities.map((i) => i.event)].map((e) => e.did),
    ops.map((o) => o.did),
    ops.flatMap((o) => o.locks),
    ops.flatMap((o) => o.sharedLocks),
    newGroups,
  )

  // Account and identity events older than the last applied one of their DID are stale (a
  // redelivered old event must not revert a status or a handle).
  const lastAccount = new Map(
    (await newerActorEvents(trx, 'status', [...latestBy(accounts).values()])).map((e) => [e.did, e]),
  )
  for (const e of accounts) if (lastAccount.get(e.did) !== e) outcomes.set(indexOfEvent(prepared, e), { status: 'stale' })
  const opDids = [...new Set(ops.map((o) => o.did))]

  // Same-batch reduction, then the rev gate against stored versions and tombstones (and the
  // accounts already deleted: read in the same statement). The LATERAL … LIMIT 1 subqueries
  // make one index probe per uri: as plain joins the planner hashed the whole `record` table
  // (a seq scan per batch) while it had fewer than a few hundred thousand rows.
  const { winners, losers } = reduceOps(ops)
  const uris = winners.map((w) => w.uri)
  const stored = new Map<string, { cid: string; rev: string | null }>()
  const storedJson = new Map<string, string>()
  const tombstones = new Map<string, StoredTombstone>()
  const deleted = new Set<string>()
  if (uris.length) {
    // The stored json of unique-group types: the group its stored version is in (locked below).
    const grouped = winners.map((w) => w.module?.uniqueGroup !== undefined)
    const rows = await sql<{ uri: string; cid: string | null; rev: string | null; trev: string | null; tdel: string | null; tver: string | null; stored: boolean; json: string | null }>`
      SELECT u.uri, r.cid, r.rev, t.rev AS trev, t."deletedAt" AS tdel, t."versionRev" AS tver, r.uri IS NOT NULL AS stored, CASE WHEN u.g THEN r.json END AS json
      FROM unnest(${uris}::text[], ${grouped}::boolean[]) AS u(uri, g)
      LEFT JOIN LATERAL (SELECT uri, cid, rev, json FROM record WHERE uri = u.uri LIMIT 1) r ON true
      LEFT JOIN LATERAL (SELECT uri, rev, "deletedAt", "versionRev" FROM record_tombstone WHERE uri = u.uri LIMIT 1) t ON true
      WHERE r.uri IS NOT NULL OR t.uri IS NOT NULL
      UNION ALL
      SELECT a.did, NULL, NULL, NULL, NULL, NULL, false, NULL FROM unnest(${opDids}::text[]) AS d(did)
      JOIN LATERAL (SELECT did FROM actor WHERE did = d.did AND "upstreamStatus" = 'deleted' LIMIT 1) a ON true`.execute(trx)
    for (const r of rows.rows) {
      if (!r.uri.startsWith('at://')) deleted.add(r.uri)
      else {
        if (r.stored) stored.set(r.uri, { cid: r.cid ?? '', rev: r.rev })
        if (r.json !== null) storedJson.set(r.uri, r.json)
        if (r.trev !== null) tombstones.set(r.uri, { rev: r.trev, time: r.tdel ?? '', versionRev: r.tver })
      }
    }
  }
  // Accounts deleted (already, or by this batch's last account event): their writes are skipped.
  for (const [did, e] of lastAccount) {
    if (upstreamStatus(e) === 'deleted') deleted.add(did)
    else deleted.delete(did)
  }
  const writes: (RecordOp & { event: RecordWriteEvent })[] = []
  const deletes: RecordOp[] = []
  for (const w of winners) {
    const cur = stored.get(w.uri)
    const tomb = tombstones.get(w.uri)?.rev
    let status: OutcomeStatus
    if (deleted.has(w.did)) status = 'stale'
    else if (isWrite(w)) {
      const cid = w.event.cid
      if (tomb !== undefined && w.rev <= tomb) status = 'stale'
      else if (cur && cur.rev !== null && (w.rev < cur.rev || (w.rev === cur.rev && cid < cur.cid))) status = 'stale'
      else if (cur && cur.rev === w.rev && cur.cid === cid) status = 'unchanged'
      else status = 'applied'
      if (status === 'applied') writes.push(w)
    } else {
      if (cur && cur.rev !== null && w.rev < cur.rev) status = 'stale'
      else if (!cur && tomb !== undefined && tomb > w.rev) status = 'stale'
      else if (!cur && tomb === w.rev) status = 'unchanged'
      else status = 'applied'
      if (status === 'applied') deletes.push(w)
    }
    outcomes.set(w.index, { status })
  }
  const winnerOf = new Map(winners.map((w) => [w.uri, w]))
  for (const l of losers) {
    const w = winnerOf.get(l.uri)
    const same = w !== undefined && compareOps(l, w) === 0
    outcomes.set(l.index, same ? { status: 'unchanged' } : { status: 'stale' })
  }

  const applied = [...writes, ...deletes]
  const held = (k: string, exclusive: boolean): boolean => newGroups.get(k) === true || (newGroups.has(k) && !exclusive)
  const storedKeys = groupKeys(applied, storedJson, false)
  const storedGroups = [...storedKeys].filter(([k, x]) => !held(k, x))
  // (a deadlock with another batch doing the same is possible here, and retried)
  if (storedGroups.length) await lockBatch(trx, [], [], [], [], new Map(storedGroups))

  // Derived rows of old versions go first (per record type; nothing to do for pure creates).
  const aggs: AggKey[] = ops.flatMap((o) => o.aggKeys)
  const byModule = new Map<RecordModule, { uris: string[]; rows: ModuleRows[]; removed: Row[]; part?: string }>()
  const slot = (m: RecordModule) => {
    let s = byModule.get(m)
    if (!s) byModule.set(m, (s = { uris: [], rows: [], removed: [] }))
    return s
  }
  const soft = planSoftDeletes({
    ops,
    appliedDeletes: new Map(deletes.map((d) => [d.uri, d])),
    appliedWrites: new Set(writes.map((w) => w.uri)),
    stored,
    tombstones,
    deletedDids: deleted,
    rowsOf: (op) => (isWrite(op) ? rowsOfWrite(op) : null),
  })
  for (const d of deletes) if (d.module) slot(d.module).uris.push(d.uri)
  for (const w of writes) {
    if (!w.module) continue
    const s = slot(w.module)
    // (a deleted record may have left rows in softDelete tables: they go too)
    if (stored.has(w.uri) || (tombstones.has(w.uri) && hasSoftDelete(w.module))) s.uris.push(w.uri)
    const rows = rowsOfWrite(w)
    if (rows) s.rows.push(rows)
  }
  // the kept rows of another version, replaced by those of the version the delete removed
  for (const op of ops) if (op.module && soft.replace.has(op.uri)) slot(op.module).uris.push(op.uri)
  for (const s of byModule.values()) s.uris = [...new Set(s.uris)]
  const removals = new CombinedStatement()
  const collectors = [...byModule].map(([m, s]) => ({ s, collect: addRemoveOld(removals, m, s.uris, soft.mark) }))
  await removals.run(trx)
  for (const { s, collect } of collectors) s.removed = collect(aggs)

  // Then every insert and delete of the batch in ONE statement: `record`, tombstones, the rows
  // of every record type, actors and actor_sync.
  const stmt = new CombinedStatement()
  stmt.add(
    insertSql(
      RECORD_SPEC,
      writes.map((w) => ({ uri: w.uri, cid: w.event.cid, did: w.did, json: JSON.stringify(w.event.record), indexedAt: w.time, rev: w.rev })),
      `ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid, did = excluded.did, json = excluded.json,
         "indexedAt" = excluded."indexedAt", rev = excluded.rev`,
    ),
  )
  stmt.add(deleteSql('record_tombstone', 'uri', writes.filter((w) => tombstones.has(w.uri)).map((w) => w.uri)))
  stmt.add(deleteSql('record', 'uri', deletes.filter((d) => stored.has(d.uri)).map((d) => d.uri)))
  stmt.add(
    insertSql(
      TOMBSTONE_SPEC,
      deletes.map((d) => ({ uri: d.uri, did: d.did, rev: d.rev, deletedAt: d.time, versionRev: soft.tombVersion.get(d.uri) ?? null })),
      `ON CONFLICT (uri) DO UPDATE SET rev = excluded.rev, "deletedAt" = excluded."deletedAt", "versionRev" = excluded."versionRev"
         WHERE record_tombstone.rev < excluded.rev`,
    ),
  )
  if (soft.tombUpdates.size) {
    const list = [...soft.tombUpdates]
    stmt.add(sql`UPDATE record_tombstone SET "versionRev" = x.v FROM unnest(${list.map(([u]) => u)}::text[], ${list.map(([, v]) => v)}::text[]) AS x(u, v)
      WHERE record_tombstone.uri = x.u`)
  }
  for (const [spec, rows] of soft.rows) stmt.add(insertSql(spec, rows, 'ON CONFLICT DO NOTHING'))
  for (const [m, s] of byModule) {
    s.rows.sort((a, b) => (String(a.main.uri) < String(b.main.uri) ? -1 : 1))
    s.part = addInserts(stmt, m, s.rows, aggs)
  }
  const firstSeen = new Map<string, string>()
  const sync = new Map<string, { commit: string; rev: string }>()
  for (const e of [...ops, ...repos]) {
    const seen = firstSeen.get(e.did)
    if (seen === undefined || e.time < seen) firstSeen.set(e.did, e.time)
    const cur = sync.get(e.did)
    if (!cur || e.rev > cur.rev) sync.set(e.did, { commit: e.commit, rev: e.rev })
  }
  const returned = await stmt.run(trx)

  // Unique groups that lost a row or had a conflict.
  for (const [m, s] of byModule) {
    const inserted = s.part ? (returned.get(s.part) ?? new Set<string>()) : new Set<string>()
    await resolveGroups(trx, m, s.uris, s.removed, s.rows, inserted, aggs)
  }

  // Handles, account status (and deletion).
  const lastIdentity = await newerActorEvents(trx, 'handle', [...latestBy(identities.map((i) => ({ ...i.event, index: i.index }))).values()])
  const appliedIdentity = new Set(lastIdentity.map((e) => e.index))
  for (const i of identities) if (!appliedIdentity.has(i.index)) outcomes.set(i.index, { status: 'stale' })
  for (const e of lastIdentity) await applyHandle(trx, e.did, handles.get(e.index), e.time)
  for (const e of lastAccount.values()) {
    await applyAccountStatus(trx, e)
    if (upstreamStatus(e) === 'deleted') await removeAccountRecords(trx, e.did, aggs)
  }

  // Gate flags and violations of the posts whose inputs this batch changed; a reply whose
  // violation changed changes its parent's replyCount.
  for (const parent of await updatePostFlags(trx, ops, writes, changedReplyPairs([newGroups, storedKeys]))) {
    aggs.push({ kind: 'replyCount', key: parent })
  }
  const aggregateKeys = await recountAggregates(trx, aggs)
  return { outcomes, stats: { aggregateKeys }, actors: { firstSeen, sync } }
}

/**
 * The unique groups (one like per creator and subject) that applied ops may change: the group
 * of each new version and of each stored version. Two batches writing different members of one
 * group (a like and a second like of the same post) lock each other out on it, so that each
 * resolves the group from what the other committed. Taken after the uri locks (a batch holding
 * group locks waits for no uri lock) and in sorted order: no deadlock.
 */
function groupKeys(ops: readonly RecordOp[], storedJson: ReadonlyMap<string, string>, newVersions = true): Map<string, boolean> {
  const keys = new Map<string, boolean>()
  const add = (module: RecordModule, rows: ModuleRows | null): void => {
    const group = module.uniqueGroup
    if (group && rows) keys.set(`${module.main.table}:${JSON.stringify(group.map((c) => rows.main[c] ?? null))}`, true)
  }
  for (const op of ops) {
    const module = op.module
    if (!module) continue
    for (const { record, cid, fresh } of versionsOf(op, storedJson, newVersions)) {
      if (module.uniqueGroup) {
        add(module, fresh && isWrite(op) ? rowsOfWrite(op) : module.toRows({ uri: op.uri, did: op.did, collection: op.collection, rkey: op.rkey, cid, indexedAt: op.time }, record))
      }
      // The reply permissions a follow or list item changes, or a reply reads (post-flags.ts).
      const pairs = module.replyPairs
      if (pairs) for (const k of pairs.keys(op.did, record)) keys.set(`pair:${k}`, pairs.exclusive || keys.get(`pair:${k}`) === true)
    }
  }
  return keys
}

/** The new version of an op (writes) and its stored version (unique-group types). */
function versionsOf(op: RecordOp, storedJson: ReadonlyMap<string, string>, newVersion = true): { record: LexRecord; cid: string; fresh: boolean }[] {
  const out: { record: LexRecord; cid: string; fresh: boolean }[] = []
  if (newVersion && isWrite(op)) out.push({ record: op.event.record, cid: op.event.cid, fresh: true })
  const json = storedJson.get(op.uri)
  if (json !== undefined) out.push({ record: JSON.parse(json) as LexRecord, cid: '', fresh: false })
  return out
}

/** The rows of a write's new version, built once per op (locking and writing both need them). */
const builtRows = new WeakMap<RecordOp, ModuleRows | null>()
function rowsOfWrite(w: RecordOp & { event: RecordWriteEvent }): ModuleRows | null {
  let rows = builtRows.get(w)
  if (rows === undefined && w.module) {
    rows = w.module.toRows({ uri: w.uri, did: w.did, collection: w.collection, rkey: w.rkey, cid: w.event.cid, indexedAt: w.time }, w.event.record)
    builtRows.set(w, rows)
  }
  return rows ?? null
}

/**
 * `owner|replier` pairs whose reply permission the batch's follows and list items change: the
 * pairs groupKeys locked exclusively.
 */
function changedReplyPairs(keyMaps: readonly ReadonlyMap<string, boolean>[]): string[] {
  const out = new Set<string>()
  for (const keys of keyMaps) for (const [k, exclusive] of keys) if (exclusive && k.startsWith('pair:')) out.add(k.slice('pair:'.length))
  return [...out]
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
