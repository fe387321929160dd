import { sleep } from '@firehose/service'
import { errorMessage } from '../redis.js'
import type { WorkerSettings } from './options.js'

/**
 * Acks in batches: ids queue up until `ackBatchSize` of them or `ackIntervalMs` passed, then one
 * pipelined XACK (and XDEL with `deleteOnAck`). A failed flush puts its ids back and retries.
 */
export class AckBatcher {
  private queue: string[] = []
  private timer: NodeJS.Timeout | null = null
  private acking: Promise<void> | null = null

  constructor(
    private readonly o: WorkerSettings,
    private readonly stopping: () => boolean,
  ) {}

  ack(ids: string[]): void {
    for (const id of ids) this.queue.push(id)
    if (this.queue.length >= this.o.ackBatchSize) void this.flush().catch(() => undefined)
    else
      this.timer ??= setTimeout(() => {
        this.timer = null
        void this.flush().catch(() => undefined)
      }, this.o.ackIntervalMs)
  }

  /** XACK (and XDEL) everything queued; on failure the ids are queued again. */
  async flush(): Promise<void> {
    while (this.acking) await this.acking
    if (this.queue.length === 0) return
    const ids = this.queue
    this.queue = []
    this.acking = (async () => {
      try {
        const pipe = this.o.redis.pipeline()
        pipe.xack(this.o.stream, this.o.group, ...ids)
        if (this.o.deleteOnAck) pipe.xdel(this.o.stream, ...ids)
        const res = await pipe.exec()
        const failed = res?.find((r) => r[0])
        if (failed) throw failed[0]
        this.o.metrics?.acked.inc({ stream: this.o.stream }, ids.length)
      } catch (err) {
        this.queue.push(...ids)
        this.o.logger?.warn({ stream: this.o.stream, count: ids.length, err: errorMessage(err) }, 'XACK failed; will retry')
        if (!this.stopping())
          this.timer ??= setTimeout(() => {
            this.timer = null
            void this.flush().catch(() => undefined)
          }, 500)
        throw err
      } finally {
        this.acking = null
      }
    })()
    await this.acking
  }

  /** At close: stop the timer and flush what is queued, a bounded number of tries. */
  async drain(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    for (let i = 0; i < 20 && (this.queue.length > 0 || this.acking); i++) {
      try {
        await this.flush()
      } catch {
        await sleep(250)
      }
    }
  }
}
