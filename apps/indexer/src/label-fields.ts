import type { Label } from '@firehose/streams'
import { isUnstorable } from './writer/pg-text.js'

/**
 * Label fields checked with Postgres's rules before the statement, so that one label Postgres
 * would refuse cannot fail a whole batch of labels. JS's `Date.parse` accepts what Postgres's
 * `timestamptz` does not (2026-02-29, a +16:00 offset, "Jan 1 2026", year 0), `varchar` refuses
 * U+0000, and the key (src, uri, cid, val) must fit a btree index entry (2704 bytes at most).
 */

export type LabelRefusal = 'src' | 'uri' | 'val' | 'cid' | 'cts' | 'exp' | 'key-too-long'

/** Bytes of the label's key kept below a btree entry's limit (2704), with room for overhead. */
export const MAX_LABEL_KEY_BYTES = 2600

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,20})?(?:Z|([+-])(\d{2}):(\d{2}))$/

const daysIn = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate()

/**
 * Whether a datetime (RFC 3339, as atproto's `datetime` format) is one both Postgres's
 * `timestamptz` and JS's `Date.parse` read, as the same instant.
 */
export function isPgDatetime(value: unknown): value is string {
  if (typeof value !== 'string') return false
  const m = DATETIME.exec(value)
  if (!m) return false
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return false
  if (hour > 23 || minute > 59 || second > 59) return false
  if (m[7] !== undefined && (Number(m[8]) > 15 || Number(m[9]) > 59)) return false
  return Number.isFinite(Date.parse(value))
}

const textOk = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && !isUnstorable(v)

/** Why Postgres would refuse this label, or undefined when it would store it. */
export function labelRefusal(label: Label): LabelRefusal | undefined {
  if (!textOk(label.src)) return 'src'
  if (!textOk(label.uri)) return 'uri'
  if (!textOk(label.val)) return 'val'
  if (label.cid !== undefined && label.cid !== null && (typeof label.cid !== 'string' || isUnstorable(label.cid))) return 'cid'
  if (!isPgDatetime(label.cts)) return 'cts'
  if (label.exp !== undefined && label.exp !== null && !isPgDatetime(label.exp)) return 'exp'
  const key =
    Buffer.byteLength(label.src) + Buffer.byteLength(label.uri) + Buffer.byteLength(label.cid ?? '') + Buffer.byteLength(label.val)
  if (key > MAX_LABEL_KEY_BYTES) return 'key-too-long'
  return undefined
}
