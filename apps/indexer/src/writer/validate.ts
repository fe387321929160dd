import { ids, jsonToLex, lexicons } from '@atproto/api'
import type { LexRecord } from '@firehose/streams'

export class InvalidRecordError extends Error {
  override name = 'InvalidRecordError'
  constructor(
    message: string,
    readonly collection: string,
  ) {
    super(message)
  }
}

const known = new Set<string>(Object.values(ids))

/**
 * Validate a record (atproto JSON form) against its app.bsky lexicon, as bsky's indexer does
 * before writing. Returns the error, or null when valid; never throws.
 */
export function validateRecord(collection: string, record: LexRecord): InvalidRecordError | null {
  if (!known.has(collection)) return null
  if (record.$type !== collection) {
    return new InvalidRecordError(`$type ${String(record.$type)} does not match collection ${collection}`, collection)
  }
  try {
    lexicons.assertValidRecord(collection, jsonToLex(record))
    return null
  } catch (err) {
    return new InvalidRecordError((err as Error).message, collection)
  }
}
