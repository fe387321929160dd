import { trimDeadLetters } from '../dlq.js'
import { errorMessage } from '../redis.js'
import { trimAcked } from '../trim.js'
import type { WorkerSettings } from './options.js'

/**
 * One round of the trim timer: remove from the stream what every group has acked, then apply
 * the DLQ's retention (age, length) when one is set. Failures are logged; the next round retries.
 */
export async function trimRound(o: WorkerSettings): Promise<void> {
  try {
    const n = await trimAcked(o.redis, o.stream)
    if (n > 0) o.logger?.debug({ stream: o.stream, trimmed: n }, 'trimmed acked entries')
  } catch (err) {
    o.logger?.warn({ stream: o.stream, err: errorMessage(err) }, 'trim failed')
  }
  if (o.dlqMaxAgeMs <= 0 && o.dlqMaxLength <= 0) return
  try {
    const n = await trimDeadLetters(o.redis, o.dlqStream, { maxAgeMs: o.dlqMaxAgeMs, maxLength: o.dlqMaxLength })
    if (n > 0)
      o.logger?.info(
        { dlq: o.dlqStream, removed: n, maxAgeMs: o.dlqMaxAgeMs, maxLength: o.dlqMaxLength },
        'dead letters past their retention removed',
      )
  } catch (err) {
    o.logger?.warn({ dlq: o.dlqStream, err: errorMessage(err) }, 'DLQ trim failed')
  }
}
