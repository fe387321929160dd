import { fieldsToObject } from '../redis.js'

export interface StreamEntry {
  stream: string
  id: string
  fields: Record<string, string>
  /** How many times the group has delivered this entry (1 on first delivery). */
  deliveries: number
}

/**
 * A handler's result for an entry it did not handle and that is not its fault (e.g. it is
 * shutting down): the entry is neither acked, retried nor dead-lettered, and not counted as a
 * failure. It stays pending in the group: a restart, or this or another consumer's reclaim after
 * `claimIdleMs`, takes it again (the group's delivery count, kept by Redis, counts that delivery).
 */
export const LEAVE_PENDING: unique symbol = Symbol('leave pending')

/** One entry's outcome: `null`/`undefined` done, an Error failed, LEAVE_PENDING left pending. */
export type EntryResult = Error | null | undefined | typeof LEAVE_PENDING

/**
 * Handles a batch of entries. Return nothing (all done) or one slot per entry (see
 * EntryResult). Throwing fails the whole batch. An error with `permanent: true` (see
 * PermanentError) dead-letters the entry without further attempts.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler declared `Promise<void>` (all done) must fit
export type BatchHandler = (entries: StreamEntry[]) => Promise<EntryResult[] | void>

/** An entry as read from the stream, its delivery count not yet known (1). */
export function newEntry(stream: string, id: string, flat: string[]): StreamEntry {
  return { stream, id, fields: fieldsToObject(flat), deliveries: 1 }
}
