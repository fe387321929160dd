import type { RecordModule } from '../../records/index.js'
import { addRemoveOld } from '../derived.js'
import { isWrite } from '../prepare.js'
import { hasSoftDelete, planSoftDeletes } from '../soft-delete.js'
import { CombinedStatement } from '../sql.js'
import { rowsOfWrite } from './rows-of-write.js'
import type { BatchState, ModuleSlot } from './state.js'

/**
 * Per record type, the uris whose old rows go and the new rows (built once), with the plan for
 * the rows deleted records keep (writer/soft-delete.ts). Nothing to remove for pure creates.
 */
export function planRows(b: BatchState): void {
  const { byModule, writes, deletes, stored, tombstones } = b
  const slot = (m: RecordModule): ModuleSlot => {
    let s = byModule.get(m)
    if (!s) byModule.set(m, (s = { uris: [], rows: [], removed: [] }))
    return s
  }
  b.soft = planSoftDeletes({
    ops: b.ops,
    appliedDeletes: new Map(deletes.map((d) => [d.uri, d])),
    appliedWrites: new Set(writes.map((w) => w.uri)),
    stored,
    tombstones,
    deletedDids: b.deleted,
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
  for (const op of b.ops) if (op.module && b.soft.replace.has(op.uri)) slot(op.module).uris.push(op.uri)
  for (const s of byModule.values()) s.uris = [...new Set(s.uris)]
}

/** The derived rows of old versions go first, every record type in one statement. */
export async function removeOldRows(b: BatchState): Promise<void> {
  const removals = new CombinedStatement()
  const collectors = [...b.byModule].map(([m, s]) => ({ s, collect: addRemoveOld(removals, m, s.uris, b.soft.mark) }))
  await removals.run(b.trx)
  for (const { s, collect } of collectors) s.removed = collect(b.aggs)
}
