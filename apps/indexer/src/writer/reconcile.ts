import { sql } from 'kysely'
import type { RepoEvent } from '@firehose/streams'
import { recordModules, type AggKey } from '../records/index.js'
import { hasSoftDelete } from './soft-delete.js'
import { parseUri, removeDerived } from './derived.js'
import { prepareEvents, type RecordOp } from './prepare.js'
import { lockBatch, type Tx } from './sql.js'
import { updatePostFlags } from './post-flags.js'
import type { EventOutcome } from './write-batch.js'

const VERIFICATION = 'app.bsky.graph.verification'
const THREADGATE = 'app.bsky.feed.threadgate'
const POSTGATE = 'app.bsky.feed.postgate'

/*
 * RE-BACKFILL RECONCILIATION. A backfilled repo is a snapshot: its records as `create`s at the
 * snapshot's rev, then a `repo` event {commit, rev}. The records the indexer holds for that DID
 * that the snapshot no longer contains were deleted by commits it never saw (lost in a gap,
 * made while the repo was desynchronized). So each DID has a **snapshot floor**
 * (`indexer_snapshot_floor`, migration 0010): the greatest rev of a `repo` event seen. Then:
 *  - a record op (create, update, delete) of the DID with a rev below its floor is stale: the
 *    snapshot at the floor already holds its outcome;
 *  - when a batch raises a floor, every stored record of the DID with a rev below it (or no rev:
 *    written by bsky's indexer) is deleted through the writer's delete path (derived rows,
 *    unique groups, aggregates, gate flags, notifications), as a delete at the stored rev;
 *    the snapshot's own creates carry the floor's rev, so they beat those deletes, and a stored
 *    record the snapshot still holds is rewritten at the floor's rev;
 *  - the DID's tombstones below the floor go too, with what deleted records leave behind (rows
 *    in `softDelete` tables, `unverified` notifications, a post's `has*Gate` = false, which
 *    becomes null as for a post that never had a gate): the floor already keeps any older write
 *    out, and without them the tables do not depend on whether an old delete arrived before or
 *    after the snapshot (a snapshot cannot tell what was deleted before it).
 * The tables are then the same whatever the order of the snapshot's creates, its `repo` event
 * and live events: a live write newer than the snapshot survives a snapshot delivered late;
 * creates processed after their `repo` event are at the floor, not below it. A `repo` event
 * locks its DID exclusively (batches with record ops of the DID hold it shared), and floors are
 * read once the DID locks are held, so a batch never writes below a floor another raised.
 */

export interface FloorPlan {
  /** The ops below their DID's floor (taken out of the batch's ops): stale. */
  stale: RecordOp[]
  /** Raised floors, by DID. */
  raised: Map<string, string>
  /** The deletes the raised floors added (negative indexes), by index. */
  synthesized: Set<number>
}

interface LockInput {
  /** DIDs locked exclusively (account and identity events). */
  exclusiveDids: readonly string[]
  repos: readonly RepoEvent[]
  /** The batch's record ops: changed in place (stale ones out, the floors' deletes in). */
  ops: RecordOp[]
  /** Unique groups and reply pairs of the new versions (write-batch.ts groupKeys). */
  groups: ReadonlyMap<string, boolean>
  /** More uris read (locked shared): the stored ancestors of new replies (notifications.ts). */
  reads?: readonly string[]
}

/**
 * Take the batch's locks, read the snapshot floors of its DIDs and raise them with its `repo`
 * events: DIDs first, then (the floors read) the uris and groups, in the global lock order.
 */
export async function lockWithFloors(trx: Tx, input: LockInput): Promise<FloorPlan> {
  const { repos, ops, groups } = input
  const exclusive = [...input.exclusiveDids, ...repos.map((r) => r.did)]
  const shared = ops.map((o) => o.did)
  const plan: FloorPlan = { stale: [], raised: new Map(), synthesized: new Set() }
  if (repos.length === 0) {
    await lockBatch(
      trx,
      exclusive,
      shared,
      ops.flatMap((o) => o.locks),
      [...ops.flatMap((o) => o.sharedLocks), ...(input.reads ?? [])],
      groups,
    )
    if (ops.length) applyFloors(ops, await readFloors(trx, [...new Set(shared)]), plan)
    return plan
  }
  await lockBatch(trx, exclusive, shared, [], [], new Map())
  const floors = await readFloors(trx, [...new Set([...shared, ...repos.map((r) => r.did)])])
  const snapshots = new Map<string, RepoEvent>()
  for (const r of repos) {
    const cur = snapshots.get(r.did)
    if (!cur || r.rev > cur.rev) snapshots.set(r.did, r)
  }
  for (const [did, r] of snapshots) {
    const cur = floors.get(did)
    if (cur === undefined || r.rev > cur) {
      plan.raised.set(did, r.rev)
      floors.set(did, r.rev)
    }
  }
  applyFloors(ops, floors, plan)
  if (plan.raised.size) ops.push(...(await deletesBelow(trx, plan, snapshots, ops)))
  await lockBatch(
    trx,
    [],
    [],
    ops.flatMap((o) => o.locks),
    [...ops.flatMap((o) => o.sharedLocks), ...(input.reads ?? [])],
    groups,
  )
  return plan
}

async function readFloors(trx: Tx, dids: readonly string[]): Promise<Map<string, string>> {
  if (dids.length === 0) return new Map()
  const res = await sql<{ did: string; rev: string }>`SELECT did, rev FROM indexer_snapshot_floor WHERE did = ANY(${dids}::text[])`.execute(
    trx,
  )
  return new Map(res.rows.map((r) => [r.did, r.rev]))
}

/** Take the ops below their DID's floor out of `ops` (into `plan.stale`). */
function applyFloors(ops: RecordOp[], floors: ReadonlyMap<string, string>, plan: FloorPlan): void {
  if (floors.size === 0) return
  let kept = 0
  for (const op of ops) {
    const floor = floors.get(op.did)
    if (floor !== undefined && op.rev < floor) plan.stale.push(op)
    else ops[kept++] = op
  }
  ops.length = kept
}

/**
 * Raise the floors (one statement, kept as the max) and build a delete op, at the stored rev,
 * for each stored record of those DIDs below its new floor that no op of the batch writes or
 * deletes at or above the floor (such an op wins anyway).
 */
async function deletesBelow(
  trx: Tx,
  plan: FloorPlan,
  snapshots: ReadonlyMap<string, RepoEvent>,
  ops: readonly RecordOp[],
): Promise<RecordOp[]> {
  const dids = [...plan.raised.keys()]
  const revs = dids.map((d) => plan.raised.get(d) as string)
  const res = await sql<{ uri: string; rev: string | null }>`
    WITH raised AS (
      INSERT INTO indexer_snapshot_floor (did, rev) SELECT * FROM unnest(${dids}::text[], ${revs}::text[])
      ON CONFLICT (did) DO UPDATE SET rev = excluded.rev WHERE indexer_snapshot_floor.rev < excluded.rev
    )
    SELECT r.uri, r.rev FROM unnest(${dids}::text[], ${revs}::text[]) AS f(did, rev)
    JOIN record r ON r.did = f.did AND (r.rev IS NULL OR r.rev < f.rev)`.execute(trx)
  const written = new Set(ops.map((o) => o.uri))
  const out: RecordOp[] = []
  for (const row of res.rows) {
    const snapshot = snapshots.get(parseUri(row.uri).did)
    if (written.has(row.uri) || !snapshot) continue
    const index = -1 - plan.synthesized.size
    plan.synthesized.add(index)
    // (null rev: written by bsky's indexer, older than any floor)
    out.push(deleteOp(row.uri, row.rev ?? '', snapshot, index))
  }
  return out
}

/**
 * After the batch's writes: drop the tombstones below the raised floors (those the floors'
 * deletes just wrote included) with what deleted records leave behind (rows in `softDelete`
 * tables, `unverified` notifications, a gated post's `has*Gate` = false), and take the floors'
 * deletes out of `outcomes`. Returns how many records the floors deleted.
 */
export async function finishFloors(trx: Tx, plan: FloorPlan, outcomes: Map<number, EventOutcome>, aggs: AggKey[]): Promise<number> {
  let deleted = 0
  for (const index of plan.synthesized) {
    if (outcomes.get(index)?.status === 'applied') deleted++
    outcomes.delete(index)
  }
  if (plan.raised.size === 0) return deleted
  const dids = [...plan.raised.keys()]
  const revs = dids.map((d) => plan.raised.get(d) as string)
  const res = await sql<{ uri: string }>`
    DELETE FROM record_tombstone t USING unnest(${dids}::text[], ${revs}::text[]) AS f(did, rev)
    WHERE t.did = f.did AND t.rev < f.rev RETURNING t.uri`.execute(trx)
  if (res.rows.length === 0) return deleted
  const byCollection = new Map<string, string[]>()
  for (const { uri } of res.rows) {
    const { collection } = parseUri(uri)
    const list = byCollection.get(collection)
    if (list) list.push(uri)
    else byCollection.set(collection, [uri])
  }
  for (const m of recordModules) {
    const uris = byCollection.get(m.collection)
    if (uris && hasSoftDelete(m)) await removeDerived(trx, m, uris, aggs)
  }
  const verifications = byCollection.get(VERIFICATION) ?? []
  if (verifications.length) {
    await sql`DELETE FROM notification WHERE reason = 'unverified' AND "recordUri" = ANY(${verifications}::text[])`.execute(trx)
  }
  // a gate with neither record nor tombstone: its post's flag goes back to null (post-flags.ts)
  const gates = [...(byCollection.get(THREADGATE) ?? []), ...(byCollection.get(POSTGATE) ?? [])].map((uri) =>
    deleteOp(uri, '', { seq: -2, time: '', commit: '' }, 0),
  )
  for (const parent of await updatePostFlags(trx, gates, [], [])) aggs.push({ kind: 'replyCount', key: parent })
  return deleted
}

/** A delete op of `uri` at `rev`, as prepare.ts builds it. */
function deleteOp(uri: string, rev: string, from: { seq: number; time: string; commit: string }, index: number): RecordOp {
  const { did, collection, rkey } = parseUri(uri)
  const [prepared] = prepareEvents([{ type: 'delete', seq: from.seq, time: from.time, did, commit: from.commit, rev, collection, rkey }])
  if (prepared?.kind !== 'record') throw new Error(`not a record uri: ${uri}`)
  return { ...prepared.op, index }
}
