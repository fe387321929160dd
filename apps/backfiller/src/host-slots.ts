/**
 * A per-host share of the backfill slots: at most `perHost` repos of one PDS host in flight at
 * once, so that a host that stalls (429 forever, slow bodies) holds only its share and the other
 * hosts keep going. A repo that finds its host full waits a little for a slot, then is handed
 * back (HostBusyError): the caller puts the job back in the queue instead of holding a slot.
 */
import { setTimeout as delay } from 'node:timers/promises'

export class HostBusyError extends Error {
  override name = 'HostBusyError'
  constructor(readonly host: string) {
    super(`host ${host} holds its share of backfill slots`)
  }
}

export class HostSlots {
  private readonly held = new Map<string, number>()
  private readonly waiters = new Map<string, Set<() => void>>()

  constructor(readonly perHost: number) {
    if (perHost < 1) throw new Error('perHost must be at least 1')
  }

  inUse(host: string): number {
    return this.held.get(host) ?? 0
  }

  /** A slot for `host` (call the returned release once), waiting at most `waitMs`; else HostBusyError. */
  async acquire(host: string, waitMs: number, signal?: AbortSignal): Promise<() => void> {
    const deadline = Date.now() + waitMs
    while (this.inUse(host) >= this.perHost) {
      const left = deadline - Date.now()
      if (left <= 0 || signal?.aborted) throw new HostBusyError(host)
      await this.waitForRelease(host, left, signal)
    }
    this.held.set(host, this.inUse(host) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const n = this.inUse(host) - 1
      if (n > 0) this.held.set(host, n)
      else this.held.delete(host)
      const ws = this.waiters.get(host)
      const first = ws?.values().next().value
      first?.()
    }
  }

  private async waitForRelease(host: string, ms: number, signal?: AbortSignal): Promise<void> {
    let wake!: () => void
    const woken = new Promise<void>((resolve) => (wake = resolve))
    const ws = this.waiters.get(host) ?? new Set<() => void>()
    this.waiters.set(host, ws)
    ws.add(wake)
    const timer = new AbortController()
    try {
      await Promise.race([
        woken,
        delay(ms, undefined, { signal: AbortSignal.any([timer.signal, ...(signal ? [signal] : [])]) }).catch(() => undefined),
      ])
    } finally {
      timer.abort()
      ws.delete(wake)
      if (ws.size === 0) this.waiters.delete(host)
    }
  }
}
