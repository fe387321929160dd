import type { Prepared, RecordOp } from './prepare.js'

/**
 * In-process gate on record uris. Two batches of this process whose locks on a uri conflict in
 * Postgres would otherwise meet on its advisory lock there, where the waiting batch keeps every
 * lock it already took (hundreds) for the whole wait, and a chain of such batches runs one at a
 * time. Instead, `split` keeps back the ops that would wait: those writing a uri another
 * in-flight batch writes or reads, and those reading (a reply's parent and root, a quoted post:
 * `RecordOp.sharedLocks`, taken shared) a uri another in-flight batch writes. Reads do not
 * block reads. The rest of the batch goes ahead at once; the kept-back ops wait for the batches
 * that blocked them (`waitFor`), not for the uris to be free, so a stream of newer readers
 * cannot starve a write, and then go in their own transaction whatever holds the uris by then
 * (Postgres's lock queue orders them). Splitting a batch is harmless: the tables do not depend
 * on batching. The Postgres locks stay (other processes).
 */
export class KeyGate {
  private nextTicket = 0
  /** The in-flight batches (tickets) writing each uri, and reading it. */
  private readonly written = new Map<string, Set<number>>()
  private readonly read = new Map<string, Set<number>>()
  private readonly inFlight = new Set<number>()
  private waiters: (() => void)[] = []

  /** The in-flight batches an op would wait for in Postgres. */
  private blockers(op: RecordOp, into: Set<number>, reads: boolean): void {
    const add = (tickets: Set<number> | undefined): void => {
      for (const t of tickets ?? []) into.add(t)
    }
    for (const u of op.locks) {
      add(this.written.get(u))
      if (reads) add(this.read.get(u))
    }
    if (reads) for (const u of op.sharedLocks) add(this.written.get(u))
  }

  /**
   * The prepared events that can go now and those to keep back (none when `keepBack` is
   * false), the keys the ones going now hold until `release`, and the batches the kept-back
   * ones wait for. `reads` false: only writes of the same uri keep an op back (bulk mode, whose
   * short transactions wait little on the shared locks in Postgres: keeping reads back there
   * made a bulk load of the bench mix take 20–31 s instead of 12–14).
   */
  split(
    prepared: readonly Prepared[],
    keepBack = true,
    reads = true,
  ): { now: Prepared[]; later: Prepared[]; keys: GateKeys; blockers: number[] } {
    const now: Prepared[] = []
    const later: Prepared[] = []
    const blockers = new Set<number>()
    const keys: GateKeys = { ticket: this.nextTicket++, written: [], read: [] }
    const written = new Set<string>()
    const read = new Set<string>()
    for (const p of prepared) {
      if (p.kind !== 'record') {
        now.push(p)
        continue
      }
      const mine = new Set<number>()
      if (keepBack) this.blockers(p.op, mine, reads)
      if (mine.size > 0) {
        later.push(p)
        for (const t of mine) blockers.add(t)
        continue
      }
      now.push(p)
      for (const u of p.op.locks) written.add(u)
      for (const u of p.op.sharedLocks) read.add(u)
    }
    const hold = (m: Map<string, Set<number>>, uris: Set<string>, into: string[]): void => {
      for (const u of uris) {
        let s = m.get(u)
        if (!s) m.set(u, (s = new Set()))
        s.add(keys.ticket)
        into.push(u)
      }
    }
    hold(this.written, written, keys.written)
    hold(this.read, read, keys.read)
    this.inFlight.add(keys.ticket)
    return { now, later, keys, blockers: [...blockers] }
  }

  release(keys: GateKeys): void {
    const drop = (m: Map<string, Set<number>>, uris: readonly string[]): void => {
      for (const u of uris) {
        const s = m.get(u)
        s?.delete(keys.ticket)
        if (s?.size === 0) m.delete(u)
      }
    }
    drop(this.written, keys.written)
    drop(this.read, keys.read)
    this.inFlight.delete(keys.ticket)
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  /** Resolves when none of `blockers` (from `split`) is in flight any more. */
  async waitFor(blockers: readonly number[]): Promise<void> {
    while (blockers.some((t) => this.inFlight.has(t))) await new Promise<void>((resolve) => this.waiters.push(resolve))
  }
}

/** What a batch holds in the gate until `release`. */
export interface GateKeys {
  readonly ticket: number
  readonly written: string[]
  readonly read: string[]
}

const gates = new WeakMap<object, KeyGate>()

/** One gate per database handle. */
export function gateOf(database: object): KeyGate {
  let g = gates.get(database)
  if (!g) gates.set(database, (g = new KeyGate()))
  return g
}
