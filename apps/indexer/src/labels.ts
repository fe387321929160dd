import { sql } from 'kysely'
import type { Label } from '@firehose/streams'
import type { Database } from './db/database.js'
import type { Logger } from '@firehose/service'
import type { IndexerMetrics } from './metrics.js'
import { labelRefusal } from './label-fields.js'

export type LabelOutcome = 'applied' | 'stale' | 'invalid'

export class InvalidLabelError extends Error {
  override name = 'InvalidLabelError'
}

const keyOf = (l: { src: string; uri: string; cid: string; val: string }): string => JSON.stringify([l.src, l.uri, l.cid, l.val])

/** Order of two versions of one label: the newer `cts`; at equal cts a negation wins. */
function newer(a: Label, b: Label): boolean {
  const ta = Date.parse(a.cts)
  const tb = Date.parse(b.cts)
  if (ta !== tb) return ta > tb
  return a.neg === true && b.neg !== true
}

/**
 * Upsert labels into `label`, keyed as @atproto/bsky keys them: (src, uri, cid, val), with
 * `cid` '' for a label on a whole account or record. A version replaces the stored one only
 * when its `cts` is newer (at equal cts a negation wins), so delivery order does not matter;
 * a negation is stored as a row with `neg` true (also when it arrives before the label it
 * negates: the older label then loses against it). One statement per call. A label with a
 * field Postgres would refuse (label-fields.ts) is `invalid`: counted by reason, logged, and
 * left out of the statement.
 */
export async function indexLabels(
  database: Database,
  labels: readonly Label[],
  metrics?: IndexerMetrics,
  logger?: Logger,
): Promise<LabelOutcome[]> {
  const outcomes: LabelOutcome[] = labels.map(() => 'stale')
  const best = new Map<string, { label: Label; cid: string; index: number }>()
  const refused = new Map<string, number>()
  labels.forEach((label, index) => {
    const reason = labelRefusal(label)
    if (reason !== undefined) {
      outcomes[index] = 'invalid'
      metrics?.labelsRefused.inc({ reason })
      refused.set(reason, (refused.get(reason) ?? 0) + 1)
      return
    }
    const cid = label.cid ?? ''
    const key = keyOf({ ...label, cid })
    const cur = best.get(key)
    if (!cur || newer(label, cur.label)) best.set(key, { label, cid, index })
  })
  const rows = [...best.values()].sort((a, b) => (keyOf({ ...a.label, cid: a.cid }) < keyOf({ ...b.label, cid: b.cid }) ? -1 : 1))
  if (rows.length) {
    const col = <T>(f: (r: (typeof rows)[number]) => T) => rows.map(f)
    const res = await sql<{ src: string; uri: string; cid: string; val: string }>`
      INSERT INTO label (src, uri, cid, val, neg, cts, exp)
      SELECT * FROM unnest(${col((r) => r.label.src)}::text[], ${col((r) => r.label.uri)}::text[], ${col((r) => r.cid)}::text[],
        ${col((r) => r.label.val)}::text[], ${col((r) => r.label.neg === true)}::boolean[], ${col((r) => r.label.cts)}::text[],
        ${col((r) => r.label.exp ?? null)}::text[])
      ON CONFLICT (src, uri, cid, val) DO UPDATE SET neg = excluded.neg, cts = excluded.cts, exp = excluded.exp
      WHERE excluded.cts::timestamptz > label.cts::timestamptz
         OR (excluded.cts::timestamptz = label.cts::timestamptz AND excluded.neg AND NOT label.neg)
      RETURNING src, uri, cid, val`.execute(database.db)
    const applied = new Set(res.rows.map(keyOf))
    for (const r of rows) if (applied.has(keyOf({ ...r.label, cid: r.cid }))) outcomes[r.index] = 'applied'
  }
  if (refused.size) logger?.warn({ refused: Object.fromEntries(refused) }, 'labels refused: a field Postgres would not store')
  if (metrics) for (const o of outcomes) metrics.labelsWritten.inc({ outcome: o })
  return outcomes
}
