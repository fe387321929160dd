import type { StreamEntry } from './entry.js'
import type { WorkerSettings } from './options.js'

/**
 * Set `deliveries` from XPENDING for entries that may have been delivered before. `slack`:
 * how many more pending rows of this consumer the range may hold (its other entries in hand).
 */
export async function fillDeliveries(o: WorkerSettings, entries: StreamEntry[], slack: number): Promise<void> {
  if (entries.length === 0) return
  const first = (entries[0] as StreamEntry).id
  const last = (entries[entries.length - 1] as StreamEntry).id
  const rows = (await o.redis.xpending(o.stream, o.group, first, last, entries.length + slack + 10, o.consumer)) as [
    string,
    string,
    number,
    number,
  ][]
  const counts = new Map(rows.map((r) => [r[0], Number(r[3])]))
  for (const e of entries) e.deliveries = counts.get(e.id) ?? e.deliveries
}
