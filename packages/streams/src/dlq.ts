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
  const id = await redis.xadd(dlqStream, '*', ...objectToFields(out))
  return id ?? ''
}

/** Fields the DLQ adds, removed again when an entry is replayed to its source stream. */
export const DLQ_FIELDS = ['error', 'attempts', 'failed_at', 'consumer', 'source_stream', 'source_id'] as const
