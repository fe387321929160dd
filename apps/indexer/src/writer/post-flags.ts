import { sql } from 'kysely'
import type { LexRecord } from '@firehose/streams'
import { isObj } from '../records/util.js'
import { isWrite, recordUri, type RecordOp } from './prepare.js'
import type { Tx } from './sql.js'
import { callStatementFunction, statementFunction } from '../db/statement-functions.js'

const POST = 'app.bsky.feed.post'
const THREADGATE = 'app.bsky.feed.threadgate'
const POSTGATE = 'app.bsky.feed.postgate'

/*
 * The columns of `post` that depend on OTHER records, recomputed from what is stored whenever
 * one of their inputs is written, so they come out the same in any delivery order:
 *
 *  - hasThreadGate / hasPostGate: true while the post's gate (same repo, same rkey) exists,
 *    false once it was deleted (its tombstone), null when there never was one.
 *  - violatesThreadGate (replies): true when the thread root's threadgate forbids the reply:
 *    the gate has `allow` and none of its rules lets the replier in (mentioned in the root
 *    post's facets; followed by the root's author; following them; on one of its lists), the
 *    replier is not the root's author, and the gate is not newer than the reply (rev): a gate
 *    added later does not flag the replies made before it, as in bsky, which judges a reply
 *    once, when it is indexed. Null otherwise.
 *  - violatesEmbeddingRules: true when the post quotes a post of another account whose
 *    postgate (not newer than the quote) has a disableRule. Null otherwise.
 *
 * Inputs and what recomputes them: a post written (its own columns; and when it mentions
 * someone, is an update or is deleted, the replies of the thread it roots), a gate written or
 * deleted (its post; a threadgate's replies; a postgate's quotes), a follow or list item written
 * or deleted (the replies of the pair's replier in the owner's gated threads). The writer locks them so that a concurrent batch sees
 * the other's commit: gate ops lock their post (exclusive), replies and quotes lock the root
 * and the quoted post (shared), follows and list items lock `owner|replier` pairs (exclusive)
 * that replies lock shared.
 *
 * Differences from bsky: follow and list changes re-judge the replies they bear on (bsky keeps
 * the first judgement); a gate that is updated or deleted re-judges the thread against its new
 * version (or none); `invalidReplyRoot` is not computed.
 */

const mentionsSomeone = (record: LexRecord): boolean =>
  Array.isArray(record.facets) &&
  record.facets.some(
    (f) => isObj(f) && Array.isArray(f.features) && f.features.some((x) => isObj(x) && x.$type === 'app.bsky.richtext.facet#mention'),
  )

const host = (col: string) => `split_part(${col}, '/', 3)`
const rkeyOf = (col: string) => `split_part(${col}, '/', 5)`
const sibling = (col: string, collection: string) => `'at://' || ${host(col)} || '/${collection}/' || ${rkeyOf(col)}`

// Scalar subqueries, not EXISTS: the planner turns an EXISTS on a computed uri into a hashed
// subplan that reads the whole `record` table (measured: 45 ms per batch of 500 at 16k records).
const HAS_GATE = (collection: string) => `CASE
    WHEN (SELECT true FROM record r WHERE r.uri = ${sibling('p.uri', collection)}) THEN true
    WHEN (SELECT true FROM record_tombstone r WHERE r.uri = ${sibling('p.uri', collection)}) THEN false
  END`

const rule = (name: string) =>
  `EXISTS (SELECT 1 FROM jsonb_array_elements(g.j->'allow') a WHERE a->>'$type' = 'app.bsky.feed.threadgate#${name}')`

const VIOLATES_THREAD_GATE = `CASE WHEN p."replyRoot" IS NULL OR ${host('p."replyRoot"')} = p.creator THEN NULL ELSE (
    SELECT CASE
      WHEN jsonb_typeof(g.j->'allow') IS DISTINCT FROM 'array' THEN NULL
      WHEN ${rule('mentionRule')} AND EXISTS (
        SELECT 1 FROM record rr, jsonb_array_elements(coalesce((rr.json::jsonb)->'facets', '[]')) f,
          jsonb_array_elements(coalesce(f->'features', '[]')) ft
        WHERE rr.uri = p."replyRoot" AND ft->>'$type' = 'app.bsky.richtext.facet#mention' AND ft->>'did' = p.creator) THEN NULL
      WHEN ${rule('followingRule')} AND EXISTS (
        SELECT 1 FROM follow f WHERE f.creator = ${host('p."replyRoot"')} AND f."subjectDid" = p.creator) THEN NULL
      WHEN ${rule('followerRule')} AND EXISTS (
        SELECT 1 FROM follow f WHERE f.creator = p.creator AND f."subjectDid" = ${host('p."replyRoot"')}) THEN NULL
      WHEN EXISTS (
        SELECT 1 FROM jsonb_array_elements(g.j->'allow') a JOIN list_item li ON li."listUri" = a->>'list' AND li."subjectDid" = p.creator
        WHERE a->>'$type' = 'app.bsky.feed.threadgate#listRule') THEN NULL
      ELSE true
    END
    FROM (SELECT r.json::jsonb AS j FROM record r WHERE r.uri = ${sibling('p."replyRoot"', THREADGATE)}
      AND coalesce(r.rev, '') <= coalesce(pr.rev, '')) AS g
  ) END`

const VIOLATES_EMBEDDING_RULES = `CASE WHEN EXISTS (
    SELECT 1 FROM quote q JOIN record g ON g.uri = ${sibling('q.subject', POSTGATE)}
    WHERE q.uri = p.uri AND ${host('q.subject')} <> p.creator AND coalesce(g.rev, '') <= coalesce(pr.rev, '')
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce((g.json::jsonb)->'embeddingRules', '[]')) e
        WHERE e->>'$type' = 'app.bsky.feed.postgate#disableRule')
  ) THEN true END`

const COLUMNS = ['hasThreadGate', 'hasPostGate', 'violatesThreadGate', 'violatesEmbeddingRules'] as const
const VALUES = [HAS_GATE(THREADGATE), HAS_GATE(POSTGATE), VIOLATES_THREAD_GATE, VIOLATES_EMBEDDING_RULES]

/**
 * The posts among those an op may change whose columns are not what they should be: their uri,
 * replyParent, violations as stored (was, wasEmbed) and the four values (c0…c3, in COLUMNS'
 * order). Arguments (text[]): posts, thread roots, quoted posts, and the owners and repliers of
 * the pairs (`owner|replier`). Every lookup an index probe (LATERAL … per key, kept one by LIMIT
 * or OFFSET 0, which the planner cannot pull up into a hash join over the whole table). A
 * function whose plan Postgres keeps (db/statement-functions.ts).
 */
export const FLAGS_READ = statementFunction(
  'indexer_post_flags',
  ['text[]', 'text[]', 'text[]', 'text[]', 'text[]'],
  `WITH t AS (
      SELECT unnest($1) AS uri
      UNION SELECT p.uri FROM unnest($2) AS r(u) CROSS JOIN LATERAL (SELECT uri FROM post WHERE "replyRoot" = r.u OFFSET 0) p
      UNION SELECT q.uri FROM unnest($3) AS s(u) CROSS JOIN LATERAL (SELECT uri FROM quote WHERE subject = s.u OFFSET 0) q
      UNION SELECT p.uri FROM unnest($4, $5) AS x(o, s)
        CROSS JOIN LATERAL (SELECT "postUri" FROM thread_gate WHERE creator = x.o OFFSET 0) g
        CROSS JOIN LATERAL (SELECT uri FROM post WHERE "replyRoot" = g."postUri" AND creator = x.s OFFSET 0) p
    )
    SELECT p.uri, p."replyParent", p."violatesThreadGate" AS was, p."violatesEmbeddingRules" AS "wasEmbed", v.*
    FROM t
      CROSS JOIN LATERAL (SELECT * FROM post WHERE uri = t.uri LIMIT 1) p
      LEFT JOIN LATERAL (SELECT rev FROM record WHERE uri = p.uri LIMIT 1) pr ON true
      CROSS JOIN LATERAL (SELECT ${VALUES.map((v, i) => `${v} AS c${i}`).join(',\n')}) v
    WHERE ${COLUMNS.map((c, i) => `p."${c}" IS DISTINCT FROM v.c${i}`).join(' OR ')}`,
  `TABLE(uri varchar, "replyParent" varchar, was boolean, "wasEmbed" boolean, ${COLUMNS.map((_, i) => `c${i} boolean`).join(', ')})`,
)

/**
 * Recompute the columns above for the posts whose inputs this batch's ops (`ops`: all of them,
 * `written`: the writes applied, `pairs`: `owner|replier` of the follows and list items applied)
 * may have changed, after the batch's other writes: one read, and one write when anything
 * changed. Returns the reply parents of the replies whose violation changed (their replyCount
 * is to be recounted); the posts whose violation changed are pushed to `violationChanged`.
 */
export async function updatePostFlags(
  trx: Tx,
  ops: readonly RecordOp[],
  written: readonly RecordOp[],
  pairs: readonly string[],
  violationChanged: string[] = [],
): Promise<string[]> {
  const own = new Set<string>()
  const roots = new Set<string>()
  const quoted = new Set<string>()
  for (const op of ops) {
    // a deleted root takes its mentions with it
    if (op.collection === POST && op.event.type === 'delete') roots.add(op.uri)
    if (op.collection === THREADGATE || op.collection === POSTGATE) {
      const post = recordUri(op.did, POST, op.rkey)
      own.add(post)
      if (op.collection === THREADGATE) roots.add(post)
      else quoted.add(post)
    }
  }
  for (const w of written) {
    if (w.collection !== POST) continue
    own.add(w.uri)
    // A root's content matters to its replies through its mentions only: re-judge the thread
    // when the root mentions someone (its replies may have come first), or is an update.
    if (w.event.type === 'update' || (isWrite(w) && mentionsSomeone(w.event.record))) roots.add(w.uri)
  }
  if (own.size === 0 && pairs.length === 0) return []
  const owners = pairs.map((p) => p.slice(0, p.indexOf('|')))
  const repliers = pairs.map((p) => p.slice(p.indexOf('|') + 1))
  // Read first, write only what changed: usually nothing, so the common batch costs one read.
  const found = await callStatementFunction<
    { uri: string; replyParent: string | null; was: boolean | null; wasEmbed: boolean | null } & Record<`c${number}`, boolean | null>
  >(FLAGS_READ, [[...own], [...roots], [...quoted], owners, repliers]).execute(trx)
  if (found.rows.length === 0) return []
  const rows = found.rows
  const arrays = COLUMNS.map((_, i) => sql`${rows.map((r) => r[`c${i}`] ?? null)}::boolean[]`)
  const sets = COLUMNS.map((c, i) => `"${c}" = x.c${i}`).join(', ')
  const aliases = COLUMNS.map((_, i) => `c${i}`).join(', ')
  await sql`UPDATE post SET ${sql.raw(sets)}
    FROM unnest(${rows.map((r) => r.uri)}::text[], ${sql.join(arrays)}) AS x(uri, ${sql.raw(aliases)})
    WHERE post.uri = x.uri`.execute(trx)
  for (const r of rows) if (r.was !== r.c2 || r.wasEmbed !== r.c3) violationChanged.push(r.uri)
  return rows.flatMap((r) => (r.replyParent !== null && r.was !== r.c2 ? [r.replyParent] : []))
}
