/**
 * Text Postgres cannot store, handled in one place for every column kind.
 *
 * Postgres refuses U+0000 in `text`/`varchar` values ("invalid byte sequence for encoding UTF8:
 * 0x00") and the escape `\u0000` in `jsonb` ("unsupported Unicode escape sequence"); a lone UTF-16
 * surrogate (possible in a JS string decoded from JSON) becomes U+FFFD on its way through the
 * driver into a text column but makes `jsonb` refuse the escape `\udXXX`. A record is lexicon-valid
 * with either, so before anything is derived from it the indexer replaces each by U+FFFD (the
 * replacement character, what a UTF-8 decoder puts for what it cannot read): post text, facets,
 * embeds and `record.json` then all hold the same text, and nothing fails a batch.
 *
 * U+FFFD rather than deleting the character: deleting joins the words on either side and hides
 * that something was there; either way the UTF-8 byte offsets of facets after it move (by -1
 * deleted, +2 replaced), a cost of text that cannot be stored as sent. bsky's IndexingService
 * (0.0.280) does neither: its insert fails and the record is not indexed at all.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is exactly what Postgres cannot store
const UNSTORABLE = /[\u0000\ud800-\udfff]/
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is exactly what Postgres cannot store
const NUL = /\u0000/g
const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const LONE_ALL = new RegExp(LONE.source, 'g')

export type UnstorableReason = 'nul' | 'lone-surrogate'

/** Whether a string holds U+0000 or a lone surrogate (one cheap scan; paired surrogates pass). */
export function isUnstorable(s: string): boolean {
  return UNSTORABLE.test(s) && (s.includes('\u0000') || LONE.test(s))
}

/** `s` with U+0000 and lone surrogates replaced by U+FFFD; `found` collects what was replaced. */
export function pgSafeString(s: string, found?: Set<UnstorableReason>): string {
  if (!UNSTORABLE.test(s)) return s
  let out = s
  if (out.includes('\u0000')) {
    found?.add('nul')
    out = out.replace(NUL, '\ufffd')
  }
  if (LONE.test(out)) {
    found?.add('lone-surrogate')
    out = out.replace(LONE_ALL, '\ufffd')
  }
  return out
}

/**
 * A JSON-like value with every string (object keys included) made storable. Returns the value
 * itself when nothing needed a change (no copy for the common case), else a copy.
 */
export function pgSafeValue<T>(value: T, found?: Set<UnstorableReason>): T {
  return clean(value, found) as T
}

function clean(value: unknown, found: Set<UnstorableReason> | undefined): unknown {
  if (typeof value === 'string') return pgSafeString(value, found)
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const v = value[i]
      const c = clean(v, found)
      if (c !== v) (copy ??= value.slice())[i] = c
    }
    return copy ?? value
  }
  // only plain objects are walked (a CID object or a byte array is left as it is)
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== null) return value
  let copy: Record<string, unknown> | undefined
  const entries = Object.entries(value as Record<string, unknown>)
  for (const [k, v] of entries) {
    const ck = pgSafeString(k, found)
    const cv = clean(v, found)
    if (ck !== k || cv !== v) {
      if (!copy) {
        copy = {}
        for (const [k2, v2] of entries) {
          if (k2 === k) break
          copy[k2] = v2
        }
      }
    }
    if (copy) copy[ck] = cv
  }
  return copy ?? value
}
