import { errorMessage } from '../redis.js'
import { newEntry, type StreamEntry } from './entry.js'
import type { WorkerSettings } from './options.js'

/** What the reclaim loop needs from the worker. */
export interface ReclaimHost {
  stopping(): boolean
  /** How many entries the worker can take now (0: none). */
  room(): number
  fillDeliveries(entries: StreamEntry[]): Promise<void>
  enqueue(entries: StreamEntry[]): void
}

/**
 * Ownership of pending entries across consumers: `reclaim` takes over entries idle longer than
 * `claimIdleMs` on any consumer (e.g. a crashed one) with XAUTOCLAIM; `heartbeat` keeps the idle
 * time of the entries this worker holds low so nobody takes them.
 */
export class Reclaimer {
  private cursor = '0-0'

  constructor(
    private readonly o: WorkerSettings,
    private readonly host: ReclaimHost,
  ) {}

  async reclaim(): Promise<void> {
    const o = this.o
    const room = this.host.room()
    if (this.host.stopping() || room <= 0) return
    try {
      const res = (await o.redis.xautoclaim(o.stream, o.group, o.consumer, o.claimIdleMs, this.cursor, 'COUNT', room)) as [
        string,
        [string, string[] | null][],
        string[]?,
      ]
      this.cursor = res[0]
      const entries: StreamEntry[] = []
      for (const [id, flat] of res[1]) {
        if (flat) entries.push(newEntry(o.stream, id, flat))
      }
      const deleted = res[2] ?? []
      if (deleted.length > 0) o.metrics?.deletedPending.inc({ stream: o.stream }, deleted.length)
      if (entries.length === 0) return
      await this.host.fillDeliveries(entries)
      o.metrics?.reclaimed.inc({ stream: o.stream }, entries.length)
      o.logger?.info({ stream: o.stream, count: entries.length }, 'reclaimed idle entries')
      this.host.enqueue(entries)
    } catch (err) {
      o.logger?.warn({ stream: o.stream, err: errorMessage(err) }, 'XAUTOCLAIM failed')
    }
  }

  /** Reset the idle time of `ids` (XCLAIM JUSTID, 1000 at a time). */
  async heartbeat(ids: string[]): Promise<void> {
    const o = this.o
    for (let i = 0; i < ids.length; i += 1000) {
      try {
        await o.redis.xclaim(o.stream, o.group, o.consumer, 0, ...ids.slice(i, i + 1000), 'JUSTID')
      } catch (err) {
        o.logger?.warn({ stream: o.stream, err: errorMessage(err) }, 'heartbeat claim failed')
        return
      }
    }
  }
}
