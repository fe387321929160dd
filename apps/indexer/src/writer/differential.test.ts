import { describe, expect, it } from 'vitest'
import { dirname, join } from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { AtUri } from '@atproto/syntax'
import { BackgroundQueue, Database as BskyDatabase } from '@atproto/bsky'
import type { StreamEvent } from '@firehose/streams'
import { createTestDb, type TestDb } from '../test/db.js'
import { createdAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { generateHistory, rng, shuffle } from '../test/workload.js'
import { NOTIFICATION_REASONS } from '@firehose/testkit'
import { comparableNotifications } from '../test/notification-compare.js'
import { indexBatch } from './index-batch.js'
import { pgSafeValue } from './pg-text.js'

/** The slice of bsky's IndexingService used here (it is not exported by the package). */
interface BskyIndexing {
  indexRecord(uri: AtUri, cid: { toString(): string }, obj: unknown, action: 'create' | 'update', timestamp: string): Promise<void>
  deleteRecord(uri: AtUri): Promise<void>
}

async function loadIndexingService(): Promise<
  new (
    db: BskyDatabase,
    idResolver: unknown,
    background: BackgroundQueue<BskyDatabase>,
  ) => BskyIndexing
> {
  const main = createRequire(import.meta.url).resolve('@atproto/bsky')
  const mod = (await import(pathToFileURL(join(dirname(main), 'data-plane/server/indexing/index.js')).href)) as {
    IndexingService: new (db: BskyDatabase, idResolver: unknown, background: BackgroundQueue<BskyDatabase>) => BskyIndexing
  }
  return mod.IndexingService
}

/** bsky's own JSON → lex conversion (its @atproto/lex), for the records it is given. */
async function loadJsonToLex(): Promise<(json: unknown) => unknown> {
  const main = createRequire(import.meta.url).resolve('@atproto/bsky')
  const lexPath = createRequire(main).resolve('@atproto/lex')
  const mod = (await import(pathToFileURL(lexPath).href)) as { jsonToLex: (json: unknown) => unknown }
  return mod.jsonToLex
}

async function rows(url: string, text: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const res = await client.query(text)
    return res.rows
      .map((r: Record<string, unknown>) => JSON.stringify(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)])))
      .sort()
  } finally {
    await client.end()
  }
}

/**
 * Where ours is meant to differ from bsky 0.0.280 (see apps/indexer/DATABASE.md) the
 * comparison projects the difference away:
 * - unique groups (one like per creator and subject): bsky keeps the first indexed, we keep the
 *   lowest uri, so like/repost/follow/actor_block are compared per (creator, subject); and
 *   bsky re-points only one duplicate when the kept row is deleted (with three members and two
 *   deletions it loses the group), so the workload (`updateGraph: false`) has at most two
 *   members per group;
 * - bsky drops the feed_items of reposts when the reposted post is deleted, and the quotes of a
 *   deleted quoted post: feed_item is compared for posts, quoteCount is left out;
 * - invalidReplyRoot is not computed by us; the gate flags and violations are compared as
 *   booleans (null and false both mean "no"), on a workload whose gates never change once made
 *   (bsky judges a reply once; ours re-judges when a gate changes); profile.createdAt without a
 *   createdAt in the record is bsky's wall clock;
 * - aggregate rows whose counters are all 0 may exist on one side only;
 * - notifications where bsky is order-dependent or keeps rows of records gone
 *   (test/notification-compare.ts says which).
 */
const QUERIES: Record<string, string> = {
  record: `SELECT uri, cid, did FROM record`,
  // hasThreadGate / hasPostGate: false and null both mean "no gate" to readers; bsky leaves
  // null or false depending on whether the post existed when a gate went (see post-flags.ts).
  post: `SELECT uri, cid, creator, text, "replyRoot", "replyRootCid", "replyParent", "replyParentCid", "createdAt", "indexedAt", "sortAt", langs, tags,
    coalesce("hasThreadGate", false) AS "hasThreadGate", coalesce("hasPostGate", false) AS "hasPostGate",
    coalesce("violatesThreadGate", false) AS "violatesThreadGate", coalesce("violatesEmbeddingRules", false) AS "violatesEmbeddingRules" FROM post`,
  feed_item: `SELECT uri, cid, type, "postUri", "originatorDid", "sortAt" FROM feed_item WHERE type = 'post'`,
  like: `SELECT creator, subject FROM "like"`,
  repost: `SELECT creator, subject FROM repost`,
  follow: `SELECT creator, "subjectDid" FROM follow`,
  actor_block: `SELECT creator, "subjectDid" FROM actor_block`,
  profile: `SELECT uri, cid, creator, "displayName", description, "avatarCid", "bannerCid", "indexedAt" FROM profile`,
  post_agg: `SELECT uri, "likeCount", "repostCount", "replyCount" FROM post_agg WHERE "likeCount" + "repostCount" + "replyCount" > 0`,
  profile_agg: `SELECT did, "followersCount", "followsCount", "postsCount" FROM profile_agg WHERE "followersCount" + "followsCount" + "postsCount" > 0`,
  post_embed_image: `SELECT "postUri", position, "imageCid", alt FROM post_embed_image`,
  post_embed_external: `SELECT "postUri", uri, title, description, "thumbCid" FROM post_embed_external`,
  post_embed_record: `SELECT "postUri", "embedUri", "embedCid" FROM post_embed_record`,
  post_embed_video: `SELECT "postUri", "videoCid", alt FROM post_embed_video`,
  post_embed_gallery_image: `SELECT "postUri", position, "imageCid", alt FROM post_embed_gallery_image`,
  // a deleted reply keeps its row, deletedAt set (bsky: its wall clock; ours: the delete's
  // time, so whether it is set is compared); bsky's update of a post (delete + insert, on
  // conflict nothing) leaves its row deleted, so updated (and re-created) posts are left out
  op_thread_reply: `SELECT "rootUri", "parentUri", uri, "deletedAt" IS NOT NULL AS deleted FROM op_thread_reply`,
  // bsky also drops the quotes *of* a deleted quoted post (DATABASE.md): the quotes of posts
  // ever deleted or updated are left out (below)
  quote: `SELECT uri, cid, subject, "subjectCid", "createdAt", "indexedAt" FROM quote`,
  list: `SELECT uri, cid, creator, name, purpose, description, "descriptionFacets", "avatarCid", "createdAt", "indexedAt", "sortAt" FROM list`,
  // list_item / list_block / verification are unique per subject: compared per group (see above)
  list_item: `SELECT creator, "listUri", "subjectDid" FROM list_item`,
  list_block: `SELECT creator, "subjectUri" FROM list_block`,
  feed_generator: `SELECT uri, cid, creator, "feedDid", "displayName", description, "descriptionFacets", "avatarCid", "createdAt", "indexedAt" FROM feed_generator`,
  starter_pack: `SELECT uri, cid, creator, name, "createdAt", "indexedAt" FROM starter_pack`,
  labeler: `SELECT uri, cid, creator, "createdAt", "indexedAt" FROM labeler`,
  thread_gate: `SELECT uri, cid, creator, "postUri", "createdAt", "indexedAt" FROM thread_gate`,
  post_gate: `SELECT uri, cid, creator, "postUri", "createdAt", "indexedAt" FROM post_gate`,
  verification: `SELECT creator, subject FROM verification`,
  reference_list_opt_out: `SELECT uri, cid, creator, "subjectUri", "createdAt", "indexedAt", "sortAt" FROM reference_list_opt_out`,
}

const FLAGS = ['hasThreadGate', 'hasPostGate', 'violatesThreadGate', 'violatesEmbeddingRules']

/** Tables the workload must leave rows in on both sides, or the comparison proves little. */
const NON_EMPTY = [
  'like',
  'reference_list_opt_out',
  'post_embed_image',
  'post_embed_gallery_image',
  'op_thread_reply',
  'post_embed_external',
  'post_embed_video',
  'quote',
  'list',
  'list_item',
  'list_block',
  'feed_generator',
  'starter_pack',
  'labeler',
  'thread_gate',
  'post_gate',
  'verification',
]

describe('differential: ours vs @atproto/bsky IndexingService on the same events', () => {
  // What the seeds left rows in (ours; equal to bsky's), checked over all seeds at the end.
  const seen = new Set<string>()
  let refused = 0

  // seeds 11, 12: rkeys reused (updates, re-creations); 13: a fresh rkey for each like, repost,
  // follow, … (as TIDs are), where bsky's notifications can be compared for most records; 14: too
  for (const seed of [11, 12, 13, 14]) {
    it(`seed ${seed}: same rows for every record type, embed kind and aggregate`, async () => {
      const [ours, ref] = await Promise.all([createTestDb(), createTestDb({ migrated: false })])
      try {
        await compare(seed, ours, ref)
      } finally {
        await Promise.all([ours.drop(), ref.drop()])
      }
    })
  }

  it('the seeds above leave rows in every table, gate flags, violations and refused records', () => {
    expect(
      [...NON_EMPTY, ...FLAGS, 'op_thread_reply deleted', ...NOTIFICATION_REASONS.map((r) => `notification ${r}`)].filter(
        (t) => !seen.has(t),
      ),
    ).toEqual([])
    expect(refused, 'the workload has records bsky refuses').toBeGreaterThan(0)
  })

  it('text Postgres cannot store: bsky fails the record; ours stores what bsky stores for it with U+FFFD', async () => {
    const [ours, ref] = await Promise.all([createTestDb(), createTestDb({ migrated: false })])
    try {
      const a = did(1)
      const events = [
        writeEvent(a, 'app.bsky.feed.post', 'nul', tid(1), {
          text: 'a\u0000b',
          createdAt,
          tags: ['t\u0000'],
          embed: { $type: 'app.bsky.embed.external', external: { uri: 'https://x.test/', title: 'ti\u0000', description: 'd\ud800' } },
        }),
        writeEvent(a, 'app.bsky.actor.profile', 'self', tid(2), { displayName: 'x\u0000y', description: 'd' }),
      ]
      const bsky = new BskyDatabase({ url: ref.directUrl, poolSize: 2 })
      await bsky.migrateToLatestOrThrow()
      const background = new BackgroundQueue(bsky)
      const indexing = new (await loadIndexingService())(bsky, {}, background)
      const jsonToLex = await loadJsonToLex()
      try {
        for (const e of events) {
          const uri = new AtUri(`at://${e.did}/${e.collection}/${e.rkey}`)
          await expect(indexing.indexRecord(uri, { toString: () => e.cid }, jsonToLex(e.record), 'create', e.time)).rejects.toThrow()
          await indexing.indexRecord(uri, { toString: () => e.cid }, jsonToLex(pgSafeValue(e.record)), 'create', e.time)
        }
        await background.processAll()
      } finally {
        await background.processAll()
        await bsky.close()
      }
      expect((await indexBatch(ours.database, events)).failed).toEqual([])
      for (const table of ['record', 'post', 'profile', 'post_embed_external']) {
        const query = QUERIES[table] as string
        const [x, y] = await Promise.all([rows(ours.directUrl, query), rows(ref.directUrl, query)])
        expect(x, table).toEqual(y)
        expect(x.length, table).toBe(table === 'record' ? 2 : 1)
      }
      expect(await rows(ours.directUrl, `SELECT tags FROM post`)).toEqual(await rows(ref.directUrl, `SELECT tags FROM post`))
    } finally {
      await Promise.all([ours.drop(), ref.drop()])
    }
  })

  async function compare(seed: number, ours: TestDb, ref: TestDb): Promise<void> {
    const history = generateHistory(seed, 4, 1000, { updateGraph: false, gateRules: 'static', freshGraphRkeys: seed >= 13 })
    // The workload re-creates every rkey sooner or later (left out below): an OP reply at an
    // rkey of its own, deleted for good, per account, so that kept deleted rows are compared.
    const lastRev = history.reduce((m, e) => ('rev' in e && e.rev > m ? e.rev : m), '')
    for (const [i, d] of [did(1), did(2), did(3), did(4)].entries()) {
      const [rev1, rev2] = [tid(90_000_000 + 2 * i), tid(90_000_001 + 2 * i)]
      expect(rev1 > lastRev, 'the extra events come after the history').toBe(true)
      const root = strongRef(uriOf(d, 'app.bsky.feed.post', 'p0'))
      history.push(
        writeEvent(
          d,
          'app.bsky.feed.post',
          `opr${i}`,
          rev1,
          { text: 'more', createdAt, reply: { root, parent: root } },
          'create',
          '2026-01-02T00:00:00.000Z',
        ),
      )
      history.push(deleteEvent(d, 'app.bsky.feed.post', `opr${i}`, rev2, '2026-01-02T00:00:01.000Z'))
    }

    // bsky: its own schema and migrations, events in rev order (it is order-sensitive)
    const bsky = new BskyDatabase({ url: ref.directUrl, poolSize: 4 })
    await bsky.migrateToLatestOrThrow()
    const background = new BackgroundQueue(bsky)
    const IndexingService = await loadIndexingService()
    const indexing = new IndexingService(bsky, {}, background)
    const jsonToLex = await loadJsonToLex()
    try {
      for (const e of history) {
        if (e.type === 'create' || e.type === 'update') {
          const uri = new AtUri(`at://${e.did}/${e.collection}/${e.rkey}`)
          try {
            await indexing.indexRecord(uri, { toString: () => e.cid }, jsonToLex(e.record), e.type, e.time)
          } catch (err) {
            // bsky refuses some records beyond their lexicon (a listitem in another's list)
            if (!/does not match/.test((err as Error).message)) throw err
            refused++
          }
          await background.processAll()
        } else if (e.type === 'delete') {
          await indexing.deleteRecord(new AtUri(`at://${e.did}/${e.collection}/${e.rkey}`))
          await background.processAll()
        }
      }
    } finally {
      await background.processAll()
      await bsky.close()
    }

    // ours: shuffled, with duplicates, in random batches
    const r = rng(seed * 9)
    const mixed: StreamEvent[] = shuffle(r, [...history, ...history.filter(() => r() < 0.2)])
    for (let i = 0; i < mixed.length; i += 37) {
      const res = await indexBatch(ours.database, mixed.slice(i, i + 37))
      expect(res.failed).toEqual([])
    }

    // (bsky's update of a post is a delete and an insert: it drops the quotes of updated posts too)
    const deletedPosts = history.flatMap((e) =>
      (e.type === 'delete' || e.type === 'update') && e.collection === 'app.bsky.feed.post'
        ? [`at://${e.did}/${e.collection}/${e.rkey}`]
        : [],
    )
    const updatedPosts = history.flatMap((e) =>
      e.type === 'update' && e.collection === 'app.bsky.feed.post' ? [`at://${e.did}/${e.collection}/${e.rkey}`] : [],
    )
    // (a post created again at its rkey after its delete: bsky keeps the earlier version's
    // op_thread_reply row, marked deleted; ours has the live version's rows: left out too)
    const deletedSoFar = new Set<string>()
    for (const e of history) {
      if (e.type !== 'create' && e.type !== 'delete') continue
      if (e.collection !== 'app.bsky.feed.post') continue
      const uri = `at://${e.did}/${e.collection}/${e.rkey}`
      if (e.type === 'delete') deletedSoFar.add(uri)
      else if (deletedSoFar.has(uri)) updatedPosts.push(uri)
    }
    const notUpdated = (text: string) => `SELECT * FROM (${text}) x WHERE NOT (uri = ANY('{${updatedPosts.join(',')}}'::text[]))`
    const ofUndeleted = (text: string) => `SELECT * FROM (${text}) x WHERE NOT (subject = ANY('{${deletedPosts.join(',')}}'::text[]))`
    for (const [table, query] of Object.entries(QUERIES)) {
      const text = table === 'quote' ? ofUndeleted(query) : table === 'op_thread_reply' ? notUpdated(query) : query
      const [a, b] = await Promise.all([rows(ours.directUrl, text), rows(ref.directUrl, text)])
      expect(a, table).toEqual(b)
      if (a.length > 0) seen.add(table)
    }
    if ((await rows(ours.directUrl, `SELECT uri FROM op_thread_reply WHERE "deletedAt" IS NOT NULL`)).length > 0)
      seen.add('op_thread_reply deleted')
    // notifications: row for row (recipient, author, reason, record, subject), where bsky is
    // not order-dependent (test/notification-compare.ts)
    const notifQuery = comparableNotifications(history)
    const [na, nb] = await Promise.all([rows(ours.directUrl, notifQuery), rows(ref.directUrl, notifQuery)])
    expect(
      na.filter((x) => !nb.includes(x)),
      'notification rows only ours has',
    ).toEqual([])
    expect(
      nb.filter((x) => !na.includes(x)),
      'notification rows only bsky has',
    ).toEqual([])
    for (const row of na) seen.add(`notification ${String((JSON.parse(row) as [string, string][]).find(([k]) => k === 'reason')?.[1])}`)
    for (const flag of FLAGS) {
      if ((await rows(ours.directUrl, `SELECT uri FROM post WHERE "${flag}"`)).length > 0) seen.add(flag)
    }
  }
})
