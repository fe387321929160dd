/**
 * Differential test against the reference implementation on a REAL network (issues #5, #6).
 *
 * `@atproto/dev-env`'s TestNetwork runs a PLC directory, a PDS and bsky's AppView; bsky's data
 * plane indexes the PDS's firehose with bsky's own RepoSubscription + IndexingService into its
 * Postgres schema (one database of our local Postgres, direct URL). Our ingester (subscribed to
 * the same PDS) and our indexer (separate processes, through pgbouncer) index the same events
 * into another database. A workload made through the PDS (accounts, posts with every embed kind
 * and real blobs, likes, reposts, follows, blocks, profiles, lists, feed generators, starter
 * packs, a labeler, gates, verifications, deletes, handle changes, a deactivation and a
 * reactivation) is then compared table by table: the same query over the same columns on both
 * sides, rows sorted, restricted to the workload's accounts (bsky's schema also holds the
 * accounts dev-env creates for ozone and the lexicon authority, which our ingester, started
 * later, never saw).
 *
 * differential/: the set-up (network.ts), the workload (workload.ts, writer.ts), the queries
 * compared (queries.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NOTIFICATION_REASONS } from '@firehose/testkit'
import { startDifferential, type Differential } from './differential/network.js'
import {
  BSKY_SIDE,
  byCreator,
  didOf,
  diffRows,
  FLAGS,
  GATES,
  ISSUE5,
  ISSUE6,
  notificationQuery,
  repliesIndexedBeforeAncestors,
  rows,
} from './differential/queries.js'

describe('differential on a real network: our ingester + indexer vs bsky AppView (dev-env TestNetwork)', () => {
  let env: Differential | undefined
  let ours: Differential['ours']
  let ref: Differential['ref']
  let dids: string[] = []

  beforeAll(async () => {
    env = await startDifferential()
    ;({ ours, ref, dids } = env)
  }, 300_000)

  afterAll(() => env?.close(), 60_000)

  async function compare(queries: Record<string, string>): Promise<{ diffs: Record<string, unknown>; sizes: Record<string, number> }> {
    const diffs: Record<string, unknown> = {}
    const sizes: Record<string, number> = {}
    for (const [table, text] of Object.entries(queries)) {
      const [a, b] = await Promise.all([rows(ours, text, dids), rows(ref, BSKY_SIDE[table] ?? text, dids)])
      sizes[table] = b.length
      const d = diffRows(a, b)
      if (d) diffs[table] = d
    }
    return { diffs, sizes }
  }

  it('issue #5: post, like, repost, follow, actor_block, profile, actor, post_agg, profile_agg equal bsky', async () => {
    const { diffs, sizes } = await compare(ISSUE5)
    console.log('issue #5 rows compared (bsky side)', JSON.stringify(sizes))
    if (Object.keys(diffs).length) console.log('issue #5 differences', JSON.stringify(diffs, null, 1))
    expect(diffs).toEqual({})
    // the workload reached every table on bsky's side (so equal means something)
    for (const [table, n] of Object.entries(sizes)) expect(n, table).toBeGreaterThan(0)
    expect((await ours.query(`SELECT count(*)::int AS n FROM post WHERE creator = ANY($1)`, [dids])).rows[0].n).toBeGreaterThan(10)
  })

  it('issue #6: list, list_item, list_block, feed_generator, starter_pack, labeler, gates, verification, embeds, quote, quoteCount equal bsky', async () => {
    const { diffs, sizes } = await compare(ISSUE6)
    console.log('issue #6 rows compared (bsky side)', JSON.stringify(sizes))
    if (Object.keys(diffs).length) console.log('issue #6 differences', JSON.stringify(diffs, null, 1))
    expect(diffs).toEqual({})
    for (const [table, n] of Object.entries(sizes)) expect(n, table).toBeGreaterThan(0)
  })

  it('issue #17: reference_list_opt_out and notification rows of every reason equal bsky', async () => {
    // replies with an ancestor (4 up) that was deleted: bsky judged them against the thread then
    const excluded = [
      ...(
        await ours.query(
          `SELECT p.uri FROM post p
      LEFT JOIN post a1 ON a1.uri = p."replyParent" LEFT JOIN post a2 ON a2.uri = a1."replyParent" LEFT JOIN post a3 ON a3.uri = a2."replyParent"
      WHERE p.creator = ANY($1) AND p."replyParent" IS NOT NULL AND EXISTS (SELECT 1 FROM record_tombstone t
        WHERE t.uri IN (p."replyParent", a1."replyParent", a2."replyParent", a3."replyParent"))`,
          [dids],
        )
      ).rows.map((r: { uri: string }) => r.uri),
      // and replies bsky indexed before one of their ancestors (its repos run concurrently)
      ...(await ref.query(repliesIndexedBeforeAncestors(20), [dids])).rows.map((r: { uri: string }) => r.uri),
    ]
    console.log('issue #17 replies left out', excluded.length)
    const { diffs, sizes } = await compare({
      reference_list_opt_out: `SELECT uri, cid, creator, "subjectUri", "createdAt", "indexedAt", "sortAt" FROM reference_list_opt_out WHERE ${byCreator}`,
      notification: notificationQuery(excluded),
    })
    const reasons = (await ref.query(`SELECT DISTINCT reason FROM (${notificationQuery(excluded)}) x`, [dids])).rows.map(
      (r: { reason: string }) => r.reason,
    )
    console.log('issue #17 rows compared (bsky side)', JSON.stringify(sizes), 'reasons', reasons.sort().join(','))
    if (Object.keys(diffs).length) console.log('issue #17 differences', JSON.stringify(diffs, null, 1))
    expect(diffs).toEqual({})
    for (const [table, n] of Object.entries(sizes)) expect(n, table).toBeGreaterThan(0)
    expect(reasons.sort()).toEqual([...NOTIFICATION_REASONS].sort())
  })

  it('gates: post hasThreadGate, hasPostGate, violatesThreadGate, violatesEmbeddingRules and replyCount equal bsky', async () => {
    const { diffs, sizes } = await compare(GATES)
    const counts = FLAGS.map((f) => `count(*) FILTER (WHERE "${f}")::int AS "${f}"`).join(', ')
    const trues = (await ref.query(`SELECT ${counts} FROM post WHERE ${byCreator}`, [dids])).rows[0] as Record<string, number>
    // posts whose replyCount on bsky's side leaves out some of their replies (the violating ones)
    trues.fewerReplies = (
      await ref.query(
        `SELECT count(*)::int AS n FROM post_agg a WHERE ${didOf('a.uri')}
      AND a."replyCount" < (SELECT count(*) FROM post p WHERE p."replyParent" = a.uri)`,
        [dids],
      )
    ).rows[0].n
    console.log('gates rows compared (bsky side)', JSON.stringify(sizes), 'true on bsky side', JSON.stringify(trues))
    if (Object.keys(diffs).length) console.log('gates differences', JSON.stringify(diffs, null, 1))
    expect(diffs).toEqual({})
    // the workload set each flag on bsky's side (so equal means something)
    for (const f of [...FLAGS, 'fewerReplies']) expect(trues[f], f).toBeGreaterThan(0)
  })
})
