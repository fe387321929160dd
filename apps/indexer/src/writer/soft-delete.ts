import type { RecordModule, Row, TableSpec } from '../records/index.js'
import type { ModuleRows } from './derived.js'
import { compareOps, isWrite, type RecordOp } from './prepare.js'

/*
 * Rows kept when their record is deleted (`TableSpec.softDelete`: bsky's op_thread_reply keeps
 * a deleted OP reply with `deletedAt`). For a record that ends deleted they are the rows of
 * the version its delete removed — the greatest write at or below the tombstone's rev (a delete
 * wins a tie) — marked with the tombstone's time; `record_tombstone."versionRev"` says which
 * version that is. So the rows are the same whichever order the versions and deletes arrive in:
 * a create that arrives after its delete adds its rows when it is that version, and replaces the
 * rows of a lesser one. A record that ends live has its winning version's rows, unmarked (the
 * writer's usual path).
 */

export const hasSoftDelete = (m: RecordModule): boolean => m.extra.some((spec) => spec.softDelete !== undefined)
/** Whether the version a delete removed is tracked (kept rows, or `keepsDeletedVersion`). */
const tracksDeletedVersion = (m: RecordModule): boolean => hasSoftDelete(m) || m.keepsDeletedVersion === true

export interface StoredTombstone {
  rev: string
  time: string
  versionRev: string | null
}

export interface SoftDeletePlan {
  /** Uris whose kept rows stay, marked with this time (they are the version an applied delete removed). */
  mark: Map<string, string>
  /** Uris whose kept rows go first: another version's rows replace them. */
  replace: Set<string>
  /** The rows to add (marked), per table. */
  rows: Map<TableSpec, Row[]>
  /** `versionRev` of the tombstone each applied delete writes. */
  tombVersion: Map<string, string | null>
  /** Tombstones that stay, but for `versionRev`. */
  tombUpdates: Map<string, string>
}

export interface SoftDeleteInput {
  /** Every record op of the batch (winners and losers). */
  ops: readonly RecordOp[]
  /** The deletes applied, by uri. */
  appliedDeletes: ReadonlyMap<string, RecordOp>
  /** Uris of the writes applied. */
  appliedWrites: ReadonlySet<string>
  stored: ReadonlyMap<string, { cid: string; rev: string | null }>
  tombstones: ReadonlyMap<string, StoredTombstone>
  /** DIDs whose account is deleted: their ops are skipped. */
  deletedDids: ReadonlySet<string>
  rowsOf: (op: RecordOp) => ModuleRows | null
}

type Candidate = { rev: string; op?: RecordOp; kind: 'stored' | 'kept' | 'op' }

/** The greatest; on equal revs the first (stored and kept versions come first: nothing to redo). */
function greatest(candidates: readonly Candidate[]): Candidate | undefined {
  let best: Candidate | undefined
  for (const c of candidates) {
    if (!best || c.rev > best.rev) best = c
    else if (c.rev === best.rev && c.op && best.op && compareOps(c.op, best.op) > 0) best = c
  }
  return best
}

export function planSoftDeletes(input: SoftDeleteInput): SoftDeletePlan {
  const plan: SoftDeletePlan = { mark: new Map(), replace: new Set(), rows: new Map(), tombVersion: new Map(), tombUpdates: new Map() }
  const byUri = new Map<string, RecordOp[]>()
  for (const op of input.ops) {
    if (!op.module || !tracksDeletedVersion(op.module) || input.deletedDids.has(op.did)) continue
    const list = byUri.get(op.uri)
    if (list) list.push(op)
    else byUri.set(op.uri, [op])
  }
  for (const [uri, ops] of byUri) {
    const del = input.appliedDeletes.get(uri)
    const tomb = input.tombstones.get(uri)
    const stored = input.stored.get(uri)
    let final: { rev: string; time: string } | undefined
    if (del) final = { rev: del.rev, time: del.time }
    else if (!input.appliedWrites.has(uri) && !stored && tomb) final = { rev: tomb.rev, time: tomb.time }
    if (!final) continue // ends live: the winning version's rows, by the usual path
    // The version the final delete removed.
    const candidates: Candidate[] = []
    if (del && stored) candidates.push({ rev: stored.rev ?? '', kind: 'stored' })
    if (tomb?.versionRev) candidates.push({ rev: tomb.versionRev, kind: 'kept' })
    for (const op of ops) if (isWrite(op) && op.rev <= final.rev) candidates.push({ rev: op.rev, op, kind: 'op' })
    const chosen = greatest(candidates)
    if (!chosen) {
      if (del) plan.tombVersion.set(uri, null)
      continue
    }
    if (chosen.kind !== 'op' || !chosen.op) {
      if (del) {
        plan.mark.set(uri, final.time)
        plan.tombVersion.set(uri, chosen.rev)
      }
      continue
    }
    plan.replace.add(uri)
    if (del) plan.tombVersion.set(uri, chosen.rev)
    else plan.tombUpdates.set(uri, chosen.rev)
    const rows = input.rowsOf(chosen.op)
    const module = chosen.op.module
    if (!rows || !module) continue
    module.extra.forEach((spec, i) => {
      const column = spec.softDelete
      if (!column) return
      let list = plan.rows.get(spec)
      if (!list) plan.rows.set(spec, (list = []))
      for (const r of rows.extra[i] ?? []) list.push({ ...r, [column]: final.time })
    })
  }
  return plan
}
