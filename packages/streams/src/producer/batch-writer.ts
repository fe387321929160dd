import { backoffDelay, sleep, type Logger } from '@firehose/service'
import type { ProducerMetrics } from '../metrics.js'
import { errorMessage, type RedisClient } from '../redis.js'
import { packEntries, type EntryFields } from './msgpack.js'
import { defineXaddBatch, XADD_BATCH, XADD_PACKED, type XaddScriptClient } from './xadd-scripts.js'

export interface BatchWriterOptions {
  redis: RedisClient
  mode: 'script' | 'pipeline'
  retryInitialMs: number
  retryMaxMs: number
  logger?: Logger
  metrics?: ProducerMetrics
}

/**
 * Writes one batch of entries to one stream, retrying Redis errors forever with backoff, and
 * reports the stream's length (XLEN) after it. `script` mode: one EVALSHA per batch (packed, or
 * one argument per field where the server's Lua has no cmsgpack), falling back to `pipeline`
 * mode (one pipelined XADD per entry) where scripts are refused.
 */
export class BatchWriter {
  private useScript: boolean
  private usePacked = true

  constructor(private readonly o: BatchWriterOptions) {
    this.useScript = o.mode !== 'pipeline'
    if (this.useScript) defineXaddBatch(o.redis)
  }

  write(stream: string, batch: EntryFields[], setLength: (length: number) => void): Promise<void> {
    return this.useScript ? this.writeScript(stream, batch, setLength) : this.writePipeline(stream, batch, setLength)
  }

  /**
   * One EVALSHA per batch: a Lua loop of XADDs that returns XLEN. One command instead of one
   * per entry cuts the client-side cost per entry by several times (ioredis builds a Command
   * and a promise for each), and one packed argument instead of three per entry by several
   * times again. A failed call is retried whole (at-least-once: a batch cut short by a
   * connection loss may be written twice, never lost).
   */
  private async writeScript(stream: string, batch: EntryFields[], setLength: (length: number) => void): Promise<void> {
    const o = this.o
    let packed: Buffer | null = null
    let args: (string | Buffer)[] | null = null
    if (this.usePacked) packed = packEntries(batch)
    else {
      args = []
      for (const fields of batch) {
        args.push(String(fields.length))
        for (const f of fields) args.push(f)
      }
    }
    let attempt = 0
    const end = o.metrics?.batchSeconds.startTimer({ stream })
    for (;;) {
      try {
        const client = o.redis as unknown as XaddScriptClient
        const len = (await (packed
          ? client[XADD_PACKED](stream, packed)
          : client[XADD_BATCH](stream, ...(args as (string | Buffer)[])))) as number
        setLength(Number(len))
        o.metrics?.entriesWritten.inc({ stream }, batch.length)
        break
      } catch (err) {
        const message = errorMessage(err)
        if (message.includes('unknown command') || message.includes('NOSCRIPT')) {
          this.useScript = false
          end?.()
          return this.write(stream, batch, setLength)
        }
        if (packed && message.includes('cmsgpack')) {
          // a server whose Lua lacks cmsgpack fails before any XADD: the argument-list script then
          this.usePacked = false
          end?.()
          return this.write(stream, batch, setLength)
        }
        attempt++
        o.metrics?.writeErrors.inc({ stream })
        o.logger?.warn({ stream, entries: batch.length, attempt, err: message }, 'XADD batch failed; retrying')
        await sleep(backoffDelay(attempt, o.retryInitialMs, o.retryMaxMs))
      }
    }
    end?.()
  }

  /** One pipelined XADD per entry (and an XLEN); only the entries that failed are rewritten. */
  private async writePipeline(stream: string, batch: EntryFields[], setLength: (length: number) => void): Promise<void> {
    const o = this.o
    let todo = batch
    let attempt = 0
    const end = o.metrics?.batchSeconds.startTimer({ stream })
    for (;;) {
      const pipe = o.redis.pipeline()
      for (const fields of todo) pipe.xadd(stream, '*', ...fields)
      pipe.xlen(stream)
      let results: [Error | null, unknown][] | null = null
      try {
        results = await pipe.exec()
      } catch (err) {
        results = todo.map(() => [err as Error, null])
      }
      const failed: EntryFields[] = []
      let firstErr: Error | null = null
      for (let i = 0; i < todo.length; i++) {
        const r = results?.[i]
        if (!r || r[0]) {
          failed.push(todo[i] as EntryFields)
          firstErr ??= r?.[0] ?? new Error('no reply')
        }
      }
      const lenReply = results?.[todo.length]
      if (lenReply && !lenReply[0] && typeof lenReply[1] === 'number') setLength(lenReply[1])
      o.metrics?.entriesWritten.inc({ stream }, todo.length - failed.length)
      if (failed.length === 0) break
      attempt++
      o.metrics?.writeErrors.inc({ stream })
      o.logger?.warn({ stream, failed: failed.length, attempt, err: errorMessage(firstErr) }, 'XADD failed; retrying the failed entries')
      todo = failed
      await sleep(backoffDelay(attempt, o.retryInitialMs, o.retryMaxMs))
    }
    end?.()
  }
}
