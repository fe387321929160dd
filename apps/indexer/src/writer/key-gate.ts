import type { Prepared } from './prepare.js'

/**
 * In-process gate on record uris. Two batches of this process that write the same uri would
 * otherwise meet on its advisory lock in Postgres, where the waiting batch keeps every lock
 * it already took (hundreds) for the whole wait, and a chain of such batches runs one at a
 * time. Instead, `split` keeps back the ops of uris another in-flight batch holds; the rest
 * of the batch goes ahead at once and the kept-back ops follow in their own transaction when
 * those uris are free. Splitting a batch is harmless: the tables do not depend on batching.
 * The Postgres locks stay (other processes).
 */
export class KeyGate {
  private readonly held = new Map<string, number>()
  private waiters: (() => void)[] = []

  /** The prepared events that can go now (their uris are taken) and those to keep back. */
  split(prepared: readonly Prepared[]): { now: Prepared[]; later: Prepared[]; keys: string[] } {
    const now: Prepared[] = []
    const later: Prepared[] = []
    const keys = new Set<string>()
    for (const p of prepared) {
      if (p.kind === 'record' && p.op.locks.some((u) => this.held.has(u))) later.push(p)
      else {
        now.push(p)
        if (p.kind === 'record') for (const u of p.op.locks) keys.add(u)
      }
    }
    for (const k of keys) this.held.set(k, (this.held.get(k) ?? 0) + 1)
    return { now, later, keys: [...keys] }
  }

  release(keys: readonly string[]): void {
    for (const k of keys) {
      const n = (this.held.get(k) ?? 1) - 1
      if (n > 0) this.held.set(k, n)
      else this.held.delete(k)
    }
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  /** Resolves when none of the uris of `prepared` is held. */
  async waitFree(prepared: readonly Prepared[]): Promise<void> {
    const uris = prepared.flatMap((p) => (p.kind === 'record' ? p.op.locks : []))
    while (uris.some((u) => this.held.has(u))) await new Promise<void>((resolve) => this.waiters.push(resolve))
  }
}

const gates = new WeakMap<object, KeyGate>()

/** One gate per database handle. */
export function gateOf(database: object): KeyGate {
  let g = gates.get(database)
  if (!g) gates.set(database, (g = new KeyGate()))
  return g
}
