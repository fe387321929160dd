import { dlqStreamName } from './names.js'
import { objectToFields, type RedisClient } from './redis.js'

export interface DeadLetterInfo {
  error: string
  attempts: number
  consumer: string
  sourceStream: string
  sourceId: string
}

/**
 * Write an entry to `<stream>_dlq`: its original fields (e.g. `repo` or `event`, as read) plus
 * `error`, `attempts`, `failed_at`, `consumer`, and where it came from so it can be replayed.
 */
export async function writeDeadLetter(
  redis: RedisClient,
  fields: Record<string, string>,
  info: DeadLetterInfo,
  dlqStream = dlqStreamName(info.sourceStream),
  /** Trim the DLQ to at most this many entries as this one is added (0: no limit). */
  maxLength = 0,
): Promise<string> {
  const out: Record<string, string> = {
    ...fields,
    error: info.error.slice(0, 4000),
    attempts: String(info.attempts),
    failed_at: new Date().toISOString(),
    consumer: info.consumer,
    source_stream: info.sourceStream,
    source_id: info.sourceId,
  }
  const id =
    maxLength > 0
      ? await redis.xadd(dlqStream, 'MAXLEN', maxLength, '*', ...objectToFields(out))
      : await redis.xadd(dlqStream, '*', ...objectToFields(out))
  return id ?? ''
}

/** Fields the DLQ adds, removed again when an entry is replayed to its source stream. */
export const DLQ_FIELDS = ['error', 'attempts', 'failed_at', 'consumer', 'source_stream', 'source_id'] as const

export interface DeadLetterRetention {
  /** Entries older than this are removed (0: no age limit). */
  maxAgeMs: number
  /** At most this many entries are kept, the newest (0: no count limit). */
  maxLength: number
}

/**
 * Apply a DLQ's retention: `XTRIM MINID` to the age limit (entry ids are the time they were
 * dead-lettered), then exact `XTRIM MAXLEN` to the count limit. Returns the entries removed.
 */
export async function trimDeadLetters(
  redis: RedisClient,
  dlqStream: string,
  retention: DeadLetterRetention,
  now = Date.now(),
): Promise<number> {
  let removed = 0
  if (retention.maxAgeMs > 0) removed += Number(await redis.xtrim(dlqStream, 'MINID', `${Math.max(0, now - retention.maxAgeMs)}-0`))
  if (retention.maxLength > 0) removed += Number(await redis.xtrim(dlqStream, 'MAXLEN', retention.maxLength))
  return removed
}
