import type { ModuleRows } from '../derived.js'
import type { RecordOp } from '../prepare.js'
import type { AppliedWrite } from './state.js'

/** The rows of a write's new version, built once per op (locking and writing both need them). */
const builtRows = new WeakMap<RecordOp, ModuleRows | null>()
export function rowsOfWrite(w: AppliedWrite): ModuleRows | null {
  let rows = builtRows.get(w)
  if (rows === undefined && w.module) {
    rows = w.module.toRows(
      { uri: w.uri, did: w.did, collection: w.collection, rkey: w.rkey, cid: w.event.cid, indexedAt: w.time },
      w.event.record,
    )
    builtRows.set(w, rows)
  }
  return rows ?? null
}
