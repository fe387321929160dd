import { backoffDelay, sleep } from '@firehose/service'
import { errorMessage, type RedisClient } from '../redis.js'
import { newEntry, type StreamEntry } from './entry.js'
import type { WorkerSettings } from './options.js'

/** What the read loop needs from the worker. */
export interface ReadLoopHost {
  stopping(): boolean
  /** How many entries the worker can take now (0: none). */
  room(): number
  /** Resolves when a handler call ended (or after a while, or on abort). */
  waitForRoom(): Promise<void>
  /** The loop went round (for a liveness watchdog). */
  alive(): void
  fillDeliveries(entries: StreamEntry[]): Promise<void>
  enqueue(entries: StreamEntry[]): void
  ack(ids: string[]): void
}

/** Create the group (MKSTREAM, from 0) unless it exists. */
export async function ensureGroup(o: WorkerSettings): Promise<void> {
  try {
    await o.redis.xgroup('CREATE', o.stream, o.group, '0', 'MKSTREAM')
    o.logger?.info({ stream: o.stream, group: o.group }, 'created consumer group')
  } catch (err) {
    if (!errorMessage(err).includes('BUSYGROUP')) throw err
  }
}

/**
 * The XREADGROUP loop, on its own connection (it blocks): first this consumer's own pending
 * entries (from 0), then new ones (>); it reads only as much as the worker has room for, and
 * recreates the group if it went missing.
 */
export class ReadLoop {
  private reader: RedisClient | null = null

  constructor(
    private readonly o: WorkerSettings,
    private readonly host: ReadLoopHost,
    private readonly signal: AbortSignal,
  ) {}

  /** Open the reading connection and run until the host stops. */
  start(): Promise<void> {
    this.reader = this.o.redis.duplicate()
    // (a duplicate has none of the caller's listeners: without one, ioredis prints "[ioredis]
    // Unhandled error event" for each failed reconnect. Its failures reach the loop as failed
    // XREADGROUPs, which are logged and retried there.)
    this.reader.on('error', () => undefined)
    return this.run()
  }

  async close(): Promise<void> {
    try {
      await this.reader?.quit()
    } catch {
      this.reader?.disconnect()
    }
  }

  private async run(): Promise<void> {
    const { o, host } = this
    let pendingCursor: string | null = '0'
    let attempt = 0
    while (!host.stopping()) {
      host.alive()
      const room = host.room()
      if (room <= 0) {
        await host.waitForRoom()
        continue
      }
      const count = Math.min(o.maxReadCount, room)
      try {
        const entries = await this.read(pendingCursor ?? '>', count)
        attempt = 0
        if (pendingCursor !== null) {
          if (entries.length === 0) {
            pendingCursor = null
            continue
          }
          pendingCursor = (entries[entries.length - 1] as StreamEntry).id
          await host.fillDeliveries(entries)
        }
        host.enqueue(entries)
      } catch (err) {
        if (host.stopping()) break
        const msg = errorMessage(err)
        if (msg.includes('NOGROUP')) {
          o.logger?.warn({ stream: o.stream, group: o.group }, 'consumer group missing: recreating it')
          await ensureGroup(o).catch(() => undefined)
        }
        attempt++
        const delay = backoffDelay(attempt, 100, 5000)
        o.logger?.warn({ stream: o.stream, err: msg, retryInMs: delay }, 'XREADGROUP failed')
        await sleep(delay, this.signal)
      }
    }
  }

  private async read(id: string, count: number): Promise<StreamEntry[]> {
    const o = this.o
    const reader = this.reader as RedisClient
    const args: (string | number)[] = ['GROUP', o.group, o.consumer, 'COUNT', count]
    if (id === '>') args.push('BLOCK', o.blockMs)
    args.push('STREAMS', o.stream, id)
    const res = (await reader.call('XREADGROUP', ...args)) as [string, [string, string[] | null][]][] | null
    if (!res) return []
    const out: StreamEntry[] = []
    const deleted: string[] = []
    for (const [, items] of res) {
      for (const [eid, flat] of items) {
        if (flat === null) deleted.push(eid)
        else out.push(newEntry(o.stream, eid, flat))
      }
    }
    if (deleted.length > 0) {
      // Pending entries whose data is gone (trimmed or XDELed elsewhere): nothing to handle.
      o.metrics?.deletedPending.inc({ stream: o.stream }, deleted.length)
      o.logger?.warn({ stream: o.stream, count: deleted.length }, 'pending entries no longer in the stream: acking them')
      this.host.ack(deleted)
    }
    return out
  }
}
