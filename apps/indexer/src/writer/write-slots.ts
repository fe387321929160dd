/**
 * At most `max` batch transactions of one process write at once; the other batches wait here
 * (in memory, holding no connection and no lock). The consumer may run many handlers at once
 * (INDEXER_CONCURRENCY_PER_SHARD, 100 by default) so that reading and decoding never starve, but on the
 * measured 2-core machine more than a few concurrent write transactions only queue inside
 * Postgres: on pgbouncer's server connections and on the aggregate-key locks, where a waiting
 * batch holds every lock it already took (apps/indexer/DATABASE.md, "Concurrency").
 */
export class WriteSlots {
  private active = 0
  private readonly queue: (() => void)[] = []

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be a positive integer')
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.queue.push(resolve))
    else this.active++
    try {
      return await fn()
    } finally {
      const next = this.queue.shift()
      if (next) next()
      else this.active--
    }
  }
}

/** Concurrent write transactions per database handle (see WriteSlots). */
export const DEFAULT_WRITE_SLOTS = 8

const slots = new WeakMap<object, WriteSlots>()

export function slotsOf(database: object): WriteSlots {
  let s = slots.get(database)
  if (!s) slots.set(database, (s = new WriteSlots(DEFAULT_WRITE_SLOTS)))
  return s
}
