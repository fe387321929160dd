/**
 * Bounds the CAR bytes held by all repos in flight (BACKFILLER_MAX_BYTES_IN_FLIGHT).
 *
 * Repos reserve bytes as their body arrives (sizes are rarely known up front). A reservation
 * that does not fit waits, except for the oldest holder, which always proceeds: it can then
 * finish and release, so the budget cannot deadlock with every repo half-downloaded. The bound
 * is therefore `limit + one repo` (itself capped by BACKFILLER_MAX_REPO_BYTES).
 */
export class ByteBudget {
  private used = 0
  private nextId = 1
  /** holders in admission order (Map keeps insertion order) → bytes held */
  private readonly holders = new Map<number, number>()
  private readonly waiters: { id: number; bytes: number; wake: () => void }[] = []

  constructor(readonly limit: number) {
    if (limit < 1) throw new Error('limit must be greater than 0')
  }

  get inUse(): number {
    return this.used
  }

  /**
   * A handle for one repo's bytes; `release()` it when the repo is done (idempotent). A repo
   * joins the admission order with its first reservation (its first body bytes), so one waiting
   * on a 429 does not hold up the others.
   */
  open(): BudgetLease {
    return new BudgetLease(this, this.nextId++)
  }

  /** @internal */
  async reserve(id: number, bytes: number, signal?: AbortSignal): Promise<void> {
    if (!this.holders.has(id)) this.holders.set(id, 0)
    while (!this.fits(id, bytes)) {
      if (signal?.aborted) return
      await new Promise<void>((resolve) => {
        const waiter = { id, bytes, wake: () => resolve() }
        this.waiters.push(waiter)
        signal?.addEventListener('abort', () => waiter.wake(), { once: true })
      })
    }
    this.used += bytes
    this.holders.set(id, (this.holders.get(id) ?? 0) + bytes)
  }

  /** @internal */
  release(id: number): void {
    const held = this.holders.get(id)
    if (held === undefined) return
    this.holders.delete(id)
    this.used -= held
    if (held === 0 && this.waiters.length === 0) return
    // wake everyone: each re-checks (the oldest may have changed)
    const waiters = this.waiters.splice(0)
    for (const w of waiters) w.wake()
  }

  private fits(id: number, bytes: number): boolean {
    if (this.used + bytes <= this.limit) return true
    const oldest = this.holders.keys().next().value
    return oldest === id
  }
}

export class BudgetLease {
  constructor(
    private readonly budget: ByteBudget,
    private readonly id: number,
  ) {}
  reserve(bytes: number, signal?: AbortSignal): Promise<void> {
    return this.budget.reserve(this.id, bytes, signal)
  }
  release(): void {
    this.budget.release(this.id)
  }
}
