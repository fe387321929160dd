import type { StreamEvent } from '@firehose/streams'

const POST = 'app.bsky.feed.post'
const VERIFICATION = 'app.bsky.graph.verification'
/** Types bsky keeps one row per creator and subject of (its notifications follow the kept row). */
const GROUPED: Record<string, string> = {
  'app.bsky.feed.like': 'subject',
  'app.bsky.feed.repost': 'subject',
  'app.bsky.graph.follow': 'subject',
  [VERIFICATION]: 'subject',
}

const uriOfEvent = (e: { did: string; collection: string; rkey: string }): string => `at://${e.did}/${e.collection}/${e.rkey}`
const subjectOf = (record: Record<string, unknown>, field: string): string => {
  const v = record[field]
  return typeof v === 'string' ? v : v && typeof v === 'object' && 'uri' in v ? String((v as { uri: unknown }).uri) : ''
}
const parentOf = (record: Record<string, unknown>): string | null => {
  const reply = record.reply
  if (!reply || typeof reply !== 'object') return null
  const parent = (reply as { parent?: { uri?: unknown } }).parent
  return typeof parent?.uri === 'string' ? parent.uri : null
}

/**
 * The `notification` rows both indexers must agree on, as one query (recipient, author, reason,
 * record, reason subject; `-` for no subject), for a history bsky indexed in rev order. Left out
 * are the rows where bsky 0.0.280 is order-dependent or keeps rows of records that are gone
 * (writer/notifications.ts, "Differences"):
 *  - rows of records that no longer exist, or of an earlier version (bsky leaves those of likes,
 *    follows, profiles, …; its readers skip them), except `unverified`, which is about a
 *    deleted record;
 *  - rows of groups (one like, repost, follow per creator and subject) where bsky's kept row
 *    (the first indexed) is not ours (the lowest uri), or was promoted (bsky does not notify a
 *    promoted duplicate); of verification groups that ever had two members;
 *  - like, repost, follow and verification uris created more than once (bsky keeps rows and
 *    duplicate pointers of their earlier lives);
 *  - `reply` rows of replies whose ancestors (4 up) were not all created before the reply and
 *    left alone since: bsky judged them against the thread as it was then (and its
 *    "descendents" pass dedupes against the parent's own recipients).
 */
export function comparableNotifications(history: readonly StreamEvent[]): string {
  const createdAt = new Map<string, number>()
  const changed = new Set<string>()
  const parents = new Map<string, string | null>()
  const groupedCreates = new Map<string, number>()
  // bsky's groups, simulated: the first indexed member is kept and notified; a promoted one is
  // not. Comparable: a group whose notified kept member is ours (the lowest live uri), or empty.
  type Group = { kept: string | null; dups: string[]; notified: Set<string>; all: Set<string>; crowded: boolean }
  const groups = new Map<string, Group>()
  const groupOfUri = new Map<string, string>()
  history.forEach((e, i) => {
    if (e.type !== 'create' && e.type !== 'update' && e.type !== 'delete') return
    const uri = uriOfEvent(e)
    if (e.type === 'create') {
      if (GROUPED[e.collection] !== undefined) groupedCreates.set(uri, (groupedCreates.get(uri) ?? 0) + 1)
      if (createdAt.has(uri)) changed.add(uri)
      createdAt.set(uri, i)
      if (e.collection === POST) parents.set(uri, parentOf(e.record))
      const field = GROUPED[e.collection]
      if (field !== undefined) {
        const key = `${e.collection}|${e.did}|${subjectOf(e.record, field)}`
        const g = groups.get(key) ?? { kept: null, dups: [], notified: new Set<string>(), all: new Set<string>(), crowded: false }
        groups.set(key, g)
        groupOfUri.set(uri, key)
        g.all.add(uri)
        if (g.kept === null) {
          g.kept = uri
          g.notified.add(uri)
        } else {
          g.dups.push(uri)
          g.crowded = true
        }
      }
      return
    }
    changed.add(uri)
    const key = groupOfUri.get(uri)
    const g = key !== undefined ? groups.get(key) : undefined
    if (e.type === 'delete' && g) {
      groupOfUri.delete(uri)
      if (g.kept === uri) g.kept = g.dups.shift() ?? null
      else g.dups = g.dups.filter((u) => u !== uri)
    }
  })
  const excluded = new Set<string>()
  for (const [key, g] of groups) {
    const live = [g.kept, ...g.dups].filter((u): u is string => u !== null).sort()
    const ok = key.startsWith(`${VERIFICATION}|`) ? !g.crowded : live.length === 0 || (live[0] === g.kept && g.notified.has(g.kept ?? ''))
    if (!ok) for (const u of g.all) excluded.add(u)
  }
  // group members created more than once at one uri: bsky's rows and duplicate pointers of
  // their earlier lives stay (the workload reuses rkeys; real rkeys are TIDs)
  for (const [uri, n] of groupedCreates) if (n > 1) excluded.add(uri)

  const stable: string[] = []
  for (const [uri, at] of createdAt) {
    if (!parents.has(uri) || changed.has(uri)) continue
    let ok = true
    let p = parents.get(uri) ?? null
    for (let h = 1; h <= 4 && p !== null && ok; h++) {
      const t = createdAt.get(p)
      if (t === undefined) break // never created: the chain ends there on both sides
      if (changed.has(p) || t > at) ok = false
      p = parents.get(p) ?? null
    }
    if (ok) stable.push(uri)
  }
  const list = (xs: Iterable<string>) => `'{${[...xs].join(',')}}'::text[]`
  // (a profile's starterpack-joined row stays as bsky wrote it when the profile is updated, with
  // the cid of the version that created it: its cid is left out)
  return `SELECT DISTINCT did, author, reason, "recordUri", CASE WHEN reason = 'starterpack-joined' THEN '-' ELSE "recordCid" END AS "recordCid",
      coalesce("reasonSubject", '-') AS "reasonSubject" FROM notification n
    WHERE NOT ("recordUri" = ANY(${list(excluded)}))
      AND (reason = 'unverified' OR EXISTS (SELECT 1 FROM record r WHERE r.uri = n."recordUri"
        AND (r.cid = n."recordCid" OR n.reason = 'starterpack-joined')))
      AND (reason <> 'reply' OR "recordUri" = ANY(${list(stable)}))`
}
