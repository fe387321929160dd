import { addCounterRows, recountAggregates } from '../aggregates.js'
import { finishFloors } from '../reconcile.js'
import type { BatchState } from './state.js'

/** Raised snapshot floors: their tombstones below go, the deletes they added are counted (writer/reconcile.ts). */
export async function finishReconcile(b: BatchState): Promise<void> {
  b.stats.reconciled = await finishFloors(b.trx, b.floors, b.outcomes, b.aggs)
}

/** Every aggregate counter the batch touched, recounted from the base tables (writer/aggregates.ts). */
export async function recount(b: BatchState): Promise<void> {
  // a bulk load's finish recounts every counter: the rows only, as a normal batch makes them
  if (b.deferred) return addCounterRows(b.trx, b.aggs)
  b.stats.aggregateKeys = await recountAggregates(b.trx, b.aggs)
}
