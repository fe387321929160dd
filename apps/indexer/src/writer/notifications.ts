import { sql } from 'kysely'
import type { LexRecord } from '@firehose/streams'
import type { Row } from '../records/index.js'
import { str, strongRef } from '../records/util.js'
import { isWrite, recordUri, type RecordOp } from './prepare.js'
import type { SoftDeletePlan, StoredTombstone } from './soft-delete.js'
import type { Tx } from './sql.js'
import { callStatementFunction, statementFunction } from '../db/statement-functions.js'
import { NOTIFICATION_KEY } from '../db/migrations/0014-notification-key.js'

/*
 * bsky's `notification` rows (its indexing plugins' notifsForInsert / notifsForDelete, 0.0.280),
 * as a function of what is stored, so that any delivery order, duplicate or replay ends with the
 * same rows. Each batch recomputes the notifications of the records its ops may change, from the
 * tables, in ONE statement: rows no longer due are deleted, due rows upserted on the unique key
 * (recordUri, did, reason, reasonSubject) — migration 0014, a digest of them — so no row is ever
 * written twice.
 *
 *  - like / repost (the row kept in the group: one per creator and subject): the subject's
 *    author (`like`, `repost`) and the author of the repost it came `via` (`like-via-repost`,
 *    `repost-via-repost`), never the liker themself, and neither when the liked post is the
 *    liker's own (bsky returns before looking at `via`). Recomputed for every group the batch
 *    touches (a delete promotes a duplicate: its notification follows).
 *  - follow (kept row): the subject (`follow`; bsky notifies a self-follow too).
 *  - profile with joinedViaStarterPack: the starter pack's author (`starterpack-joined`,
 *    sortAt = the profile's indexedAt).
 *  - post: mentioned DIDs (facet order), then the quoted post's author (`quote`, unless the post
 *    violates the quoted post's embedding rules), then the authors of its stored ancestors up to
 *    4 levels up (`reply`, reasonSubject = the ancestor; not when the post violates the thread
 *    gate; not above a reply the root's threadgate hides), each DID once (the first reason wins)
 *    and never the post's author. Recomputed for the posts written, their stored replies down to
 *    depth 4 (a parent arriving after its replies: bsky's "descendents" case), the replies of a
 *    thread whose threadgate changed, and the posts whose violation flags changed.
 *  - verification (kept row): `verified` to the subject; once deleted, `unverified` (sortAt = the
 *    delete's time) naming the version the delete removed — the greatest version at or below
 *    the tombstone's rev, as writer/soft-delete.ts chooses it (`record_tombstone.versionRev`) —
 *    so a create that arrives after its delete gives the same row. Re-created (a newer live
 *    version), the uri's `unverified` row goes.
 *  - no row to a deleted account (bsky removes an account's notifications, received and
 *    authored, when it is deleted: removeAccountNotifications).
 * sortAt is the record's `sortAt` (least of createdAt and indexedAt, indexedAt being the event's
 * time): a replay computes the same value.
 *
 * Differences from bsky, all from its order-dependence: it notifies once, at insertion, against
 * what it had then; here rows follow the stored state (a reply whose parent is deleted loses its
 * reply notifications: its ancestors are gone; a profile has its row when its current version
 * names a starter pack, where bsky notifies only when it first indexes the profile; a promoted
 * duplicate like gets the notification; a reply indexed before its parent gets the rows it would
 * have had in order, where bsky's "descendents" pass dedupes them against the parent's own). bsky leaves the rows of
 * deleted likes, reposts, follows, profiles and verifications (`verified`) in place (its readers
 * skip most rows whose record is gone); here they go with the record.
 * Thread mutes (thread_mute) are not consulted: nothing this indexer writes fills that table.
 */

const POST = 'app.bsky.feed.post'
const THREADGATE = 'app.bsky.feed.threadgate'
const VERIFICATION = 'app.bsky.graph.verification'
const PROFILE = 'app.bsky.actor.profile'
/** Ancestors notified of a reply: heights 1 to this (bsky: `height < REPLY_NOTIF_DEPTH`, 5). */
const REPLY_DEPTH = 4

interface GroupSpec {
  collection: string
  table: string
  /** Group columns: creator, and the subject column. */
  subject: string
  subjectOf(record: LexRecord): string | null
  /** SQL of the rows due for the group's kept rows `g` (columns of NOTIF_COLUMNS). */
  rows: string
  /**
   * The same rows as `rows`, in JS, for a kept row alone in its group (its main row as
   * inserted); absent: always recomputed in SQL. sortAt is LEAST("createdAt", "indexedAt") as
   * the table's generated column.
   */
  direct?(g: Row): { did: string; reason: string; reasonSubject: string | null }[]
}

const host = (col: string): string => `split_part(${col}, '/', 3)`
/** `host` in JS (split_part gives '' past the last part). */
const hostOf = (uri: string): string => uri.split('/')[2] ?? ''
const viaRows = (reason: string): string => `
  SELECT ${host('g.subject')}, g.uri, g.cid, g.creator, '${reason}', g.subject, g."sortAt" FROM g WHERE ${host('g.subject')} <> g.creator
  UNION ALL SELECT ${host('g.via')}, g.uri, g.cid, g.creator, '${reason}-via-repost', g.via, g."sortAt" FROM g
    WHERE g.via IS NOT NULL AND ${host('g.via')} <> g.creator AND ${host('g.subject')} <> g.creator`
const viaDirect =
  (reason: string) =>
  (g: Row): { did: string; reason: string; reasonSubject: string | null }[] => {
    const [creator, subject, via] = [String(g.creator), String(g.subject), g.via === null || g.via === undefined ? null : String(g.via)]
    if (hostOf(subject) === creator) return []
    const out = [{ did: hostOf(subject), reason, reasonSubject: subject }]
    if (via !== null && hostOf(via) !== creator) out.push({ did: hostOf(via), reason: `${reason}-via-repost`, reasonSubject: via })
    return out
  }

const GROUPS: readonly GroupSpec[] = [
  {
    collection: 'app.bsky.feed.like',
    table: '"like"',
    subject: 'subject',
    subjectOf: (r) => strongRef(r.subject)?.uri ?? null,
    rows: viaRows('like'),
    direct: viaDirect('like'),
  },
  {
    collection: 'app.bsky.feed.repost',
    table: 'repost',
    subject: 'subject',
    subjectOf: (r) => strongRef(r.subject)?.uri ?? null,
    rows: viaRows('repost'),
    direct: viaDirect('repost'),
  },
  {
    collection: 'app.bsky.graph.follow',
    table: 'follow',
    subject: '"subjectDid"',
    subjectOf: (r) => str(r.subject),
    rows: `SELECT g."subjectDid", g.uri, g.cid, g.creator, 'follow', NULL::varchar, g."sortAt" FROM g`,
    direct: (g) => [{ did: String(g.subjectDid), reason: 'follow', reasonSubject: null }],
  },
  {
    collection: VERIFICATION,
    table: 'verification',
    subject: 'subject',
    subjectOf: (r) => str(r.subject),
    rows: `SELECT g.subject, g.uri, g.cid, g.creator, 'verified', NULL::varchar, g."sortedAt" FROM g`,
  },
]

export interface NotificationInputs {
  /** Every record op of the batch (stale ones too: recomputing is idempotent). */
  ops: readonly RecordOp[]
  /** Stored json of the batch's uris of unique-group types (their old version's group). */
  storedJson: ReadonlyMap<string, string>
  stored: ReadonlyMap<string, { cid: string; rev: string | null }>
  appliedWrites: readonly RecordOp[]
  appliedDeletes: readonly RecordOp[]
  tombstones: ReadonlyMap<string, StoredTombstone>
  /** The deleted versions chosen by writer/soft-delete.ts (`tombVersion`, `tombUpdates`). */
  soft: Pick<SoftDeletePlan, 'tombVersion' | 'tombUpdates'>
  /** Posts whose violatesThreadGate / violatesEmbeddingRules changed (writer/post-flags.ts). */
  flagsChanged: readonly string[]
  /** Group rows inserted alone in their group, by uri (BatchState.loneInserts). */
  loneInserts: ReadonlyMap<string, Row>
}

type Notif = {
  did: string
  recordUri: string
  recordCid: string
  author: string
  reason: string
  reasonSubject: string | null
  sortAt: string
}

/**
 * The stored ancestors above the given parents whose authors a reply's `reply` rows name (up to
 * REPLY_DEPTH levels, the parent itself excluded): a batch writing such a reply locks them
 * shared (writer/phases/group-locks.ts), so that a batch deleting one of them either waits for
 * it (its pass over the descendants then sees the reply) or is seen by it (the chain ends there).
 * Also where a chain stops short: the parents, and the ancestors below REPLY_DEPTH, that are not
 * stored (yet); the ancestors above them are read again once their writers' locks were waited
 * for (`lockLateAncestors`). A parent stored before its own parent stops the chain one level up.
 */
export async function replyAncestors(trx: Tx, parents: readonly string[]): Promise<{ ancestors: string[]; absent: string[] }> {
  if (parents.length === 0) return { ancestors: [], absent: [] }
  type Walked = { uri: string; ancestor: boolean; absent: boolean }
  const res = await callStatementFunction<Walked>(ANCESTORS, [[...new Set(parents)]]).execute(trx)
  const ancestors = new Set<string>()
  const absent = new Set<string>()
  for (const r of res.rows) {
    if (r.ancestor) ancestors.add(r.uri)
    if (r.absent) absent.add(r.uri)
  }
  return { ancestors: [...ancestors], absent: [...absent] }
}

/**
 * replyAncestors' statement: one walk up from the parents, each level one index probe of `post`
 * (a parent and the ancestors below REPLY_DEPTH: whether stored, and their own parent; the
 * ancestors at REPLY_DEPTH are named, not probed). A row per (uri, depth): `ancestor` above the
 * parent, `absent` where a chain stopped short. (Written as three reads of `post`, its NOT
 * EXISTS became hash anti joins over the whole table on unnest's row estimate: 167 runs over a
 * 30k-event bench, 12 µs an event.)
 */
export const ANCESTORS = statementFunction(
  'indexer_reply_ancestors',
  ['text[]'],
  `WITH RECURSIVE w(uri, depth, parent, stored) AS (
      SELECT x.uri, 1, p."replyParent"::text, p.uri IS NOT NULL
        FROM unnest($1) AS x(uri) LEFT JOIN LATERAL (SELECT uri, "replyParent" FROM post WHERE uri = x.uri LIMIT 1) p ON true
      UNION
      SELECT w.parent, w.depth + 1, p."replyParent"::text, p.uri IS NOT NULL
        FROM w LEFT JOIN LATERAL (SELECT uri, "replyParent" FROM post WHERE uri = w.parent AND w.depth + 1 < ${REPLY_DEPTH} LIMIT 1) p ON true
        WHERE w.parent IS NOT NULL AND w.depth < ${REPLY_DEPTH}
    ) SELECT w.uri, w.depth >= 2 AS ancestor, NOT w.stored AND w.depth < ${REPLY_DEPTH} AS absent FROM w
      WHERE w.depth >= 2 OR NOT w.stored`,
  'TABLE(uri text, ancestor boolean, absent boolean)',
)

/** Recompute the notifications of the batch's records (see above): one statement. */
export async function updateNotifications(trx: Tx, input: NotificationInputs): Promise<void> {
  const posts = new Set<string>(input.flagsChanged)
  const parents = new Set<string>()
  const roots = new Set<string>()
  const profiles = new Set<string>()
  const groups = GROUPS.map(() => ({ uris: new Set<string>(), keys: new Map<string, [string, string]>() }))
  // A like, repost or follow written as the lone row of its group, its uri never stored nor
  // deleted: its rows depend on nothing else stored (the subject's author is in the subject's
  // uri), and no row names it yet (rows exist only for stored records: see `fresh`). So they
  // are written as they are, without recomputing the group and looking for stale rows.
  const plain: (Omit<Notif, 'sortAt'> & { createdAt: string; indexedAt: string })[] = []
  const plainKeys = new Set<string>()
  const plainUris = new Set<string>()
  const applied = new Set<RecordOp>(input.appliedWrites)
  for (const w of input.appliedWrites) {
    const row = input.loneInserts.get(w.uri)
    const spec = GROUPS.find((g) => g.collection === w.collection)
    if (!row || !spec?.direct || input.stored.has(w.uri) || input.tombstones.has(w.uri) || !isWrite(w)) continue
    const subject = spec.subjectOf(w.event.record)
    if (subject === null) continue
    plainKeys.add(`${w.collection}|${w.did}|${subject}`)
    plainUris.add(w.uri)
    const [recordCid, author, createdAt, indexedAt] = [String(row.cid), String(row.creator), String(row.createdAt), String(row.indexedAt)]
    for (const d of spec.direct(row)) plain.push({ ...d, recordUri: w.uri, recordCid, author, createdAt, indexedAt })
  }
  // Posts and profiles first written by this batch (never stored, no tombstone): no row names
  // them yet, so there is nothing stale to look for.
  const fresh = input.appliedWrites
    .filter((w) => (w.collection === POST || w.collection === PROFILE) && !input.stored.has(w.uri) && !input.tombstones.has(w.uri))
    .map((w) => w.uri)
  for (const op of input.ops) {
    if (op.collection === POST) {
      posts.add(op.uri)
      parents.add(op.uri)
    } else if (op.collection === THREADGATE) roots.add(recordUri(op.did, POST, op.rkey))
    else if (op.collection === PROFILE) profiles.add(op.uri)
    const gi = GROUPS.findIndex((g) => g.collection === op.collection)
    const spec = GROUPS[gi]
    const slot = groups[gi]
    if (!spec || !slot) continue
    if (applied.has(op) && plainUris.has(op.uri)) continue
    slot.uris.add(op.uri)
    const versions: LexRecord[] = []
    if (isWrite(op)) versions.push(op.event.record)
    const json = input.storedJson.get(op.uri)
    if (json !== undefined) versions.push(JSON.parse(json) as LexRecord)
    for (const v of versions) {
      const subject = spec.subjectOf(v)
      // (the group of a plain row: its rows are written as they are, above)
      if (subject !== null && !plainKeys.has(`${op.collection}|${op.did}|${subject}`))
        slot.keys.set(`${op.did}|${subject}`, [op.did, subject])
    }
  }
  const direct = unverifiedRows(input)
  // a verification live again (a newer version after its delete): its `unverified` row goes
  const relived = input.appliedWrites.filter((w) => w.collection === VERIFICATION && input.tombstones.has(w.uri)).map((w) => w.uri)
  const unverifiedTargets = [...direct.map((d) => d.recordUri), ...relived]
  if (posts.size + roots.size + profiles.size + unverifiedTargets.length + plain.length === 0 && groups.every((g) => g.uris.size === 0))
    return

  const groupArgs = groups.flatMap((slot) => {
    const keys = [...slot.keys.values()]
    return [keys.map((k) => k[0]), keys.map((k) => k[1]), [...slot.uris]]
  })
  const col = (f: (n: Notif) => string | null): (string | null)[] => direct.map(f)
  const pcol = (f: (n: (typeof plain)[number]) => string | null): (string | null)[] => plain.map(f)
  // (in NOTIFY_ARGS' order)
  await callStatementFunction(NOTIFY, [
    [...parents],
    [...posts],
    [...roots],
    [...profiles],
    ...groupArgs,
    col((n) => n.did),
    col((n) => n.recordUri),
    col((n) => n.recordCid),
    col((n) => n.author),
    col((n) => n.reason),
    col((n) => n.reasonSubject),
    col((n) => n.sortAt),
    pcol((n) => n.did),
    pcol((n) => n.recordUri),
    pcol((n) => n.recordCid),
    pcol((n) => n.author),
    pcol((n) => n.reason),
    pcol((n) => n.reasonSubject),
    pcol((n) => n.createdAt),
    pcol((n) => n.indexedAt),
    unverifiedTargets,
    fresh,
  ]).execute(trx)
}

/**
 * A mention's facet type. JSON.stringify (ours and bsky's `record.json`) writes it as it is, so a
 * record whose text lacks it has no mention: its json is not parsed (most posts).
 */
const MENTION = 'app.bsky.richtext.facet#mention'
/** Rows of a post: mentions, quote, replies (see above); one per recipient, first reason wins. */
const ancestor = (n: number, from: string): string =>
  `LEFT JOIN LATERAL (SELECT uri, "replyParent" FROM post WHERE uri = ${from}."replyParent" LIMIT 1) a${n} ON true`
const HEIGHTS = `(VALUES (1, a1.uri), (2, a2.uri), (3, a3.uri), (4, a4.uri))`
const gateOf = (col: string): string => `'at://' || split_part(${col}, '/', 3) || '/${THREADGATE}/' || split_part(${col}, '/', 5)`
const arrayOr = (expr: string): string => `CASE WHEN jsonb_typeof(${expr}) = 'array' THEN ${expr} ELSE '[]'::jsonb END`
const POST_ROWS = `
  SELECT DISTINCT ON (x."recordUri", x.did) x.did, x."recordUri", x."recordCid", x.author, x.reason, x."reasonSubject", x."sortAt"
  FROM (
    SELECT ft.v->>'did' AS did, pp.uri AS "recordUri", pp.cid AS "recordCid", pp.creator AS author, 'mention' AS reason,
      NULL::varchar AS "reasonSubject", pp."sortAt", 0 AS prio, f.n * 100000 + ft.n AS ord
    FROM pp CROSS JOIN LATERAL (SELECT json FROM record WHERE uri = pp.uri AND strpos(json, '${MENTION}') > 0 LIMIT 1) r
      CROSS JOIN LATERAL jsonb_array_elements(${arrayOr(`(r.json::jsonb)->'facets'`)}) WITH ORDINALITY AS f(v, n)
      CROSS JOIN LATERAL jsonb_array_elements(${arrayOr(`f.v->'features'`)}) WITH ORDINALITY AS ft(v, n)
    WHERE ft.v->>'$type' = '${MENTION}' AND jsonb_typeof(ft.v->'did') = 'string'
    UNION ALL
    SELECT ${host('e."embedUri"')}, pp.uri, pp.cid, pp.creator, 'quote', e."embedUri", pp."sortAt", 1, 0
    FROM pp CROSS JOIN LATERAL (SELECT "embedUri" FROM post_embed_record WHERE "postUri" = pp.uri OFFSET 0) e
    WHERE split_part(e."embedUri", '/', 4) = '${POST}' AND NOT coalesce(pp."violatesEmbeddingRules", false)
    UNION ALL
    SELECT ${host('a.uri')}, pp.uri, pp.cid, pp.creator, 'reply', a.uri, pp."sortAt", 2, a.h
    FROM pp ${ancestor(1, 'pp')} ${ancestor(2, 'a1')} ${ancestor(3, 'a2')} ${ancestor(4, 'a3')}
      LEFT JOIN LATERAL (SELECT (r.json::jsonb)->'hiddenReplies' AS hidden FROM record r
        WHERE r.uri = ${gateOf('coalesce(pp."replyRoot", pp.uri)')} LIMIT 1) g ON true
      CROSS JOIN LATERAL ${HEIGHTS} AS a(h, uri)
    WHERE pp."replyParent" IS NOT NULL AND NOT coalesce(pp."violatesThreadGate", false) AND a.uri IS NOT NULL
      AND a.h <= coalesce((SELECT min(b.h) FROM ${HEIGHTS} AS b(h, uri)
        WHERE jsonb_typeof(g.hidden) = 'array' AND g.hidden ? b.uri), ${REPLY_DEPTH})
  ) x
  WHERE x.did <> x.author
  ORDER BY x."recordUri", x.did, x.prio, x.ord`

/**
 * `unverified` for each verification that ends deleted, naming the version its delete removed
 * (chosen by writer/soft-delete.ts: the stored one, or a write of this batch that arrived after
 * the delete); none when that version is the one already named (or unknown).
 */
function unverifiedRows(input: NotificationInputs): Notif[] {
  const out: Notif[] = []
  const deletes = new Map(input.appliedDeletes.map((d) => [d.uri, d]))
  const chosen = [...input.soft.tombVersion, ...input.soft.tombUpdates]
  for (const [uri, rev] of chosen) {
    if (rev === null || !uri.includes(`/${VERIFICATION}/`)) continue
    const time = deletes.get(uri)?.time ?? input.tombstones.get(uri)?.time
    if (time === undefined) continue
    let version: { record: LexRecord; cid: string; did: string } | undefined
    const stored = input.stored.get(uri)
    const json = input.storedJson.get(uri)
    if (stored && stored.rev === rev && json !== undefined && deletes.has(uri)) {
      version = { record: JSON.parse(json) as LexRecord, cid: stored.cid, did: deletes.get(uri)?.did ?? '' }
    } else {
      const op = input.ops.find((o) => o.uri === uri && o.rev === rev && isWrite(o))
      if (op && isWrite(op)) version = { record: op.event.record, cid: op.event.cid, did: op.did }
    }
    const subject = version ? str(version.record.subject) : null
    if (!version || subject === null) continue
    out.push({
      did: subject,
      recordUri: uri,
      recordCid: version.cid,
      author: version.did,
      reason: 'unverified',
      reasonSubject: null,
      sortAt: time,
    })
  }
  return out
}

/** A deleted account: the notifications it received and those its records caused (as bsky). */
export async function removeAccountNotifications(trx: Tx, did: string): Promise<void> {
  await sql`DELETE FROM notification WHERE did = ${did} OR author = ${did}`.execute(trx)
}

/*
 * The statement of updateNotifications, one shape for every batch (a plan Postgres keeps:
 * db/statement-functions.ts); an argument the batch has nothing for is an empty array. Every
 * argument is a text[]:
 */
const NOTIFY_ARGS = [
  'parents', // posts whose stored replies (to REPLY_DEPTH) are recomputed
  'posts', // posts recomputed
  'roots', // roots of a threadgate written: their replies are recomputed
  'profiles',
  // per GROUPS entry: the (creator, subject) keys touched, as two arrays, and the uris
  ...GROUPS.flatMap((_, i) => [`g${i}Creators`, `g${i}Subjects`, `g${i}Uris`]),
  // rows computed in JS (`unverified`), by column
  ...['did', 'recordUri', 'recordCid', 'author', 'reason', 'reasonSubject', 'sortAt'].map((c) => `direct.${c}`),
  // lone group rows (`plain`), by column
  ...['did', 'recordUri', 'recordCid', 'author', 'reason', 'reasonSubject', 'createdAt', 'indexedAt'].map((c) => `plain.${c}`),
  'unverifiedTargets', // uris whose `unverified` rows are recomputed
  'fresh', // uris first written by this batch: no stale row to look for
] as const
const $ = (name: (typeof NOTIFY_ARGS)[number] | `g${number}${'Creators' | 'Subjects' | 'Uris'}`): string => {
  const i = (NOTIFY_ARGS as readonly string[]).indexOf(name)
  if (i < 0) throw new Error(`no notification argument ${name}`)
  return `$${i + 1}`
}
const cols = (prefix: 'direct' | 'plain', names: readonly string[]): string =>
  names.map((c) => $(`${prefix}.${c}` as (typeof NOTIFY_ARGS)[number])).join(', ')

const NOTIFY_SQL = `WITH RECURSIVE
    descendant(uri, depth) AS (
      SELECT c.uri, 1 FROM unnest(${$('parents')}) AS s(u) CROSS JOIN LATERAL (SELECT uri FROM post WHERE "replyParent" = s.u OFFSET 0) c
      UNION ALL SELECT c.uri, d.depth + 1 FROM descendant d CROSS JOIN LATERAL (SELECT uri FROM post WHERE "replyParent" = d.uri OFFSET 0) c
        WHERE d.depth < ${REPLY_DEPTH}
    ),
    pt AS (
      SELECT unnest(${$('posts')}) AS uri
      UNION SELECT r.uri FROM unnest(${$('roots')}) AS s(u) CROSS JOIN LATERAL (SELECT uri FROM post WHERE "replyRoot" = s.u OFFSET 0) r
      UNION SELECT uri FROM descendant
    ),
    -- (every lookup a LATERAL index probe, kept one by LIMIT or OFFSET 0: a lateral subquery the
    -- planner may pull up becomes a plain join, and on the small row estimates of unnest and of
    -- the recursive work table it hashes whole tables: post, like, notification, each batch)
    pp AS (SELECT p.uri, p.cid, p.creator, p."sortAt", p."replyParent", p."replyRoot", p."violatesThreadGate", p."violatesEmbeddingRules"
      FROM pt CROSS JOIN LATERAL (SELECT * FROM post WHERE uri = pt.uri LIMIT 1) p),
    pn AS (${POST_ROWS}),
    prn AS (
      SELECT ${host('p."joinedViaStarterPackUri"')} AS did, p.uri, p.cid, p.creator, 'starterpack-joined', p."joinedViaStarterPackUri", p."indexedAt"
      FROM unnest(${$('profiles')}) AS u(uri) CROSS JOIN LATERAL (SELECT * FROM profile WHERE uri = u.uri LIMIT 1) p
      WHERE p."joinedViaStarterPackUri" IS NOT NULL
    )${GROUPS.map(
      (spec, i) => `,
    g${i}k AS (SELECT t.* FROM unnest(${$(`g${i}Creators`)}, ${$(`g${i}Subjects`)}) AS k(c, s)
      CROSS JOIN LATERAL (SELECT * FROM ${spec.table} WHERE creator = k.c AND ${spec.subject} = k.s OFFSET 0) t),
    g${i}u AS (SELECT unnest(${$(`g${i}Uris`)}) AS uri UNION SELECT uri FROM g${i}k
      UNION SELECT d.uri FROM g${i}k k CROSS JOIN LATERAL (SELECT uri FROM duplicate_record WHERE "duplicateOf" = k.uri OFFSET 0) d),
    g${i}n AS (WITH g AS (SELECT * FROM g${i}k) ${spec.rows})`,
    ).join('')},
    c AS (
      SELECT * FROM pn UNION ALL SELECT * FROM prn ${GROUPS.map((_, i) => `UNION ALL SELECT * FROM g${i}n`).join(' ')}
      UNION ALL SELECT * FROM unnest(${cols('direct', ['did', 'recordUri', 'recordCid', 'author', 'reason', 'reasonSubject', 'sortAt'])})
      UNION ALL SELECT x.did, x.uri, x.cid, x.author, x.reason, x.subject, LEAST(x.ca, x.ia)
        FROM unnest(${cols('plain', ['did', 'recordUri', 'recordCid', 'author', 'reason', 'reasonSubject', 'createdAt', 'indexedAt'])})
          AS x(did, uri, cid, author, reason, subject, ca, ia)
    ),
    due AS (
      SELECT c.* FROM c AS c(did, "recordUri", "recordCid", author, reason, "reasonSubject", "sortAt")
        LEFT JOIN LATERAL (SELECT "upstreamStatus" FROM actor WHERE did = c.did LIMIT 1) a ON true
      WHERE a."upstreamStatus" IS DISTINCT FROM 'deleted'
    ),
    tgt AS (SELECT uri FROM pt UNION SELECT unnest(${$('profiles')}) UNION SELECT unnest(${$('unverifiedTargets')})
      ${GROUPS.map((_, i) => `UNION SELECT uri FROM g${i}u`).join(' ')}
      EXCEPT SELECT unnest(${$('fresh')})),
    stale AS (
      SELECT n.id FROM tgt CROSS JOIN LATERAL (SELECT id, did, reason, "reasonSubject", "recordUri" FROM notification WHERE "recordUri" = tgt.uri OFFSET 0) n
      WHERE (n.reason <> 'unverified' OR n."recordUri" = ANY(${$('unverifiedTargets')}))
        AND NOT EXISTS (SELECT 1 FROM due WHERE due."recordUri" = n."recordUri" AND due.did = n.did AND due.reason = n.reason
          AND due."reasonSubject" IS NOT DISTINCT FROM n."reasonSubject")
    ),
    gone AS (DELETE FROM notification WHERE id = ANY(ARRAY(SELECT id FROM stale)))
    INSERT INTO notification (did, "recordUri", "recordCid", author, reason, "reasonSubject", "sortAt")
    SELECT did, "recordUri", "recordCid", author, reason, "reasonSubject", "sortAt" FROM due
    ON CONFLICT ((${NOTIFICATION_KEY})) DO UPDATE
      SET "recordCid" = excluded."recordCid", author = excluded.author, "sortAt" = excluded."sortAt"
      WHERE (notification."recordCid", notification.author, notification."sortAt") IS DISTINCT FROM (excluded."recordCid", excluded.author, excluded."sortAt")`

/** The notification statement as a function whose plan Postgres keeps (created by the migrator). */
export const NOTIFY = statementFunction(
  'indexer_notify',
  NOTIFY_ARGS.map(() => 'text[]'),
  NOTIFY_SQL,
)
