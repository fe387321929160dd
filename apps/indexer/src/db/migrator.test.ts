import { afterEach, describe, expect, it } from 'vitest'
import { Database as BskyDatabase } from '@atproto/bsky'
import pg from 'pg'
import { migrate, MigrationError } from './migrator.js'
import { migrations } from './migrations/index.js'
import { createTestDb, type TestDb } from '../test/db.js'
import { indexBatch } from '../writer/index-batch.js'
import { cidFor, createdAt, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'

const TABLES = [
  'record',
  'record_tombstone',
  'actor',
  'actor_sync',
  'post',
  'feed_item',
  'like',
  'repost',
  'follow',
  'actor_block',
  'profile',
  'post_agg',
  'profile_agg',
  'label',
  'duplicate_record',
  'list',
  'list_item',
  'list_block',
  'feed_generator',
  'starter_pack',
  'labeler',
  'thread_gate',
  'post_gate',
  'verification',
  'post_embed_image',
  'post_embed_external',
  'post_embed_record',
  'post_embed_video',
  'quote',
  'post_embed_gallery_image',
  'op_thread_reply',
  'notification',
  'reference_list_opt_out',
]
/** Our own tables (not bsky's). */
const OURS_ONLY = [
  'record_tombstone',
  'tombstone_horizon',
  'indexer_actor_state',
  'indexer_snapshot_floor',
  'indexer_bulk_load',
  'indexer_migration',
]
/**
 * bsky's tables that nothing on the firehose fills (its migrator's own bookkeeping; private data
 * written through its stash or its API: mutes, bookmarks, drafts, subscriptions, push tokens,
 * read state; moderation and suggestions set by operators; its DID cache). Every other table of
 * bsky's schema must be one of ours: a table a newer @atproto/bsky adds fails the test below
 * until it is indexed or listed here with its reason.
 */
const NOT_FROM_THE_FIREHOSE = [
  'kysely_migration',
  'kysely_migration_lock',
  'activity_subscription',
  'actor_state',
  'blob_takedown',
  'bookmark',
  'did_cache',
  'draft',
  'list_mute',
  'moderation_action',
  'moderation_action_subject_blob',
  'moderation_event',
  'moderation_report',
  'moderation_report_resolution',
  'moderation_subject_status',
  'mute',
  'notification_push_token',
  'private_data',
  'subscription',
  'suggested_feed',
  'suggested_follow',
  'tagged_suggestion',
  'thread_mute',
  'view_param',
]

async function tables(t: TestDb): Promise<string[]> {
  const res = await t.database.pool.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)
  return res.rows.map((r: { table_name: string }) => r.table_name)
}

async function columns(t: TestDb, table: string): Promise<string[]> {
  const res = await t.database.pool.query(
    `SELECT column_name || ' ' || data_type || ' ' || is_nullable AS c FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name = $1 ORDER BY column_name`,
    [table],
  )
  return res.rows.map((r: { c: string }) => r.c)
}

describe('migrations', () => {
  let t: TestDb | undefined
  afterEach(async () => {
    await t?.drop()
    t = undefined
  })

  it('apply on an empty database, then again as a no-op', async () => {
    t = await createTestDb({ migrated: false })
    const first = await migrate(t.database)
    expect(first.applied).toEqual(migrations.map((m) => m.name))
    expect(await tables(t)).toEqual(expect.arrayContaining([...TABLES, 'indexer_migration']))
    expect(await columns(t, 'record')).toContain('rev character varying YES')
    const second = await migrate(t.database)
    expect(second.applied).toEqual([])
    const third = await migrate(t.url)
    expect(third.applied).toEqual([])
  })

  it('converge when 5 migrators start at once (through pgbouncer)', async () => {
    t = await createTestDb({ migrated: false })
    const url = t.url
    const results = await Promise.all(Array.from({ length: 5 }, () => migrate(url)))
    const applied = results.flatMap((r) => r.applied).sort()
    expect(applied).toEqual(migrations.map((m) => m.name).sort())
    const rows = await t.database.pool.query('SELECT name FROM indexer_migration ORDER BY name')
    expect(rows.rows.map((r: { name: string }) => r.name)).toEqual(migrations.map((m) => m.name).sort())
  })

  it('give up waiting for a table lock after lock_timeout (and retry), instead of queueing behind readers', async () => {
    t = await createTestDb({ migrated: false })
    const first = migrations[0]
    if (!first) throw new Error('no migrations')
    await migrate(t.database, { migrations: [first] })
    const reader = new pg.Client({ connectionString: t.directUrl })
    await reader.connect()
    try {
      await reader.query('BEGIN')
      await reader.query('LOCK TABLE record IN ACCESS SHARE MODE')
      const start = Date.now()
      const err = await migrate(t.database, { lockTimeoutMs: 200, attempts: 2 }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MigrationError)
      expect((err as MigrationError).migration).toBe(migrations[1]?.name)
      expect(Date.now() - start).toBeLessThan(10_000)
      await reader.query('ROLLBACK')
      const res = await migrate(t.database, { lockTimeoutMs: 200 })
      expect(res.applied).toEqual(migrations.slice(1).map((m) => m.name))
    } finally {
      await reader.end()
    }
  })

  it('leave room for in-place updates on the pages of the tables most events update', async () => {
    t = await createTestDb()
    const res = await t.database.pool.query(
      `SELECT relname, reloptions FROM pg_class WHERE relname = ANY($1) AND relkind = 'r' ORDER BY relname`,
      [['actor_sync', 'post_agg', 'profile_agg']],
    )
    expect(res.rows).toEqual([
      { relname: 'actor_sync', reloptions: ['fillfactor=75'] },
      { relname: 'post_agg', reloptions: ['fillfactor=75'] },
      { relname: 'profile_agg', reloptions: ['fillfactor=75'] },
    ])
  })

  it('run over DATABASE_MIGRATION_URL (direct) when given', async () => {
    t = await createTestDb({ migrated: false })
    const res = await migrate(t.database, { migrationUrl: t.directUrl })
    expect(res.applied.length).toBe(migrations.length)
    expect(await tables(t)).toContain('record_tombstone')
  })

  it('apply on top of a schema that @atproto/bsky migrated, with the same column types', async () => {
    t = await createTestDb({ migrated: false })
    const bsky = new BskyDatabase({ url: t.directUrl })
    try {
      await bsky.migrateToLatestOrThrow()
    } finally {
      await bsky.close()
    }
    const before: Record<string, string[]> = {}
    for (const table of TABLES) if (table !== 'record_tombstone') before[table] = await columns(t, table)
    const res = await migrate(t.database)
    expect(res.applied).toEqual(migrations.map((m) => m.name))
    for (const table of Object.keys(before)) {
      const after = await columns(t, table)
      const expected = table === 'record' ? [...(before[table] ?? []), 'rev character varying YES'].sort() : before[table]
      expect(after, table).toEqual(expected)
    }
    // and the writer works on it
    const d = did(1)
    const out = await indexBatch(t.database, [
      writeEvent(d, 'app.bsky.feed.like', 'l1', tid(1), { subject: strongRef('at://did:plc:x/app.bsky.feed.post/p'), createdAt }),
    ])
    expect(out.outcomes[0]?.status).toBe('applied')
    const agg = await t.database.pool.query(`SELECT "likeCount" FROM post_agg`)
    expect(String(agg.rows[0]?.likeCount)).toBe('1')
    expect(cidFor('x')).toMatch(/^bafyrei/)
  })

  it("have every table of bsky's schema that the firehose fills (its full table list), with its index names", async () => {
    t = await createTestDb({ migrated: false })
    const ref = await createTestDb({ migrated: false })
    try {
      const bsky = new BskyDatabase({ url: ref.directUrl })
      try {
        await bsky.migrateToLatestOrThrow()
      } finally {
        await bsky.close()
      }
      await migrate(t.database)
      const theirs = await tables(ref)
      const ours = (await tables(t)).filter((x) => !OURS_ONLY.includes(x))
      expect(theirs.filter((x) => !NOT_FROM_THE_FIREHOSE.includes(x))).toEqual(ours)
      expect([...ours, ...NOT_FROM_THE_FIREHOSE].sort()).toEqual(theirs)
      // the indexes bsky's readers rely on (ours may add some: notification_key_idx, …)
      const indexes = async (db: TestDb, table: string) =>
        (await db.database.pool.query(`SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY 1`, [table])).rows.map(
          (r: { indexname: string }) => r.indexname,
        )
      for (const table of ['notification', 'reference_list_opt_out']) {
        expect(await indexes(t, table), table).toEqual(expect.arrayContaining(await indexes(ref, table)))
      }
      // the key on a digest of the columns; the one on the columns themselves dropped (no row yet)
      expect(await indexes(t, 'notification')).toContain('notification_key_idx')
      expect(await indexes(t, 'notification')).not.toContain('notification_unique_idx')
    } finally {
      await ref.drop()
    }
  })

  it('remove the duplicate notifications a bsky indexer wrote before adding the unique key', async () => {
    t = await createTestDb({ migrated: false })
    const bsky = new BskyDatabase({ url: t.directUrl })
    try {
      await bsky.migrateToLatestOrThrow()
    } finally {
      await bsky.close()
    }
    const row = `('did:plc:a', 'at://did:plc:b/app.bsky.feed.like/1', 'bafy', 'did:plc:b', 'like', 'at://did:plc:a/app.bsky.feed.post/1', '2026-01-01T00:00:00.000Z')`
    const other = `('did:plc:a', 'at://did:plc:b/app.bsky.graph.follow/1', 'bafy', 'did:plc:b', 'follow', NULL, '2026-01-01T00:00:00.000Z')`
    await t.database.pool.query(`INSERT INTO notification (did, "recordUri", "recordCid", author, reason, "reasonSubject", "sortAt")
      VALUES ${[row, row, row, other, other].join(', ')}`)
    await migrate(t.database)
    const left = await t.database.pool.query(`SELECT id, reason FROM notification ORDER BY id`)
    expect(left.rows.map((r: { reason: string }) => r.reason)).toEqual(['like', 'follow'])
    expect(left.rows.map((r: { id: string }) => Number(r.id))).toEqual([1, 4])
  })

  it('create the same tables and columns as bsky on an empty database', async () => {
    t = await createTestDb({ migrated: false })
    const ref = await createTestDb({ migrated: false })
    try {
      const bsky = new BskyDatabase({ url: ref.directUrl })
      try {
        await bsky.migrateToLatestOrThrow()
      } finally {
        await bsky.close()
      }
      await migrate(t.database)
      for (const table of TABLES) {
        if (table === 'record_tombstone') continue
        const ours = (await columns(t, table)).filter((c) => !c.startsWith('rev '))
        expect(ours, table).toEqual(await columns(ref, table))
      }
    } finally {
      await ref.drop()
    }
  })

  it('the notification key: the old one kept beside it while a database holds notifications (a rolling upgrade), the same rows unique', async () => {
    t = await createTestDb({ migrated: false })
    const upTo = migrations.findIndex((m) => m.name === '0014-notification-key')
    expect(upTo).toBeGreaterThan(0)
    await migrate(t.database, { migrations: migrations.slice(0, upTo) })
    // a row an indexer of the build before wrote, on its key
    const oldWrite = (uri: string, subject: string | null) =>
      t!.database.pool.query(
        `INSERT INTO notification (did, "recordUri", "recordCid", author, reason, "reasonSubject", "sortAt")
        VALUES ('did:plc:a', $1, 'bafy', 'did:plc:b', 'like', $2, '2026-01-01T00:00:00.000Z')
        ON CONFLICT ("recordUri", did, reason, (coalesce("reasonSubject", ''))) DO NOTHING`,
        [uri, subject],
      )
    await oldWrite('at://did:plc:b/app.bsky.feed.like/1', 'at://did:plc:a/app.bsky.feed.post/1')
    await migrate(t.database)
    const indexes = async () =>
      (await t!.database.pool.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'notification' ORDER BY 1`)).rows.map(
        (r: { indexname: string }) => r.indexname,
      )
    expect(await indexes()).toEqual(expect.arrayContaining(['notification_key_idx', 'notification_unique_idx']))
    // both builds write meanwhile: the old one on its key, this one on the digest
    await oldWrite('at://did:plc:b/app.bsky.feed.like/1', 'at://did:plc:a/app.bsky.feed.post/1')
    const [a, b] = [did(1), did(2)]
    const post = uriOf(b, 'app.bsky.feed.post', 'p1')
    const like = writeEvent(a, 'app.bsky.feed.like', 'l1', tid(2), { subject: strongRef(post), createdAt })
    const write = async () => {
      const out = await indexBatch(t!.database, [writeEvent(b, 'app.bsky.feed.post', 'p1', tid(1), { text: 'hi', createdAt }), like])
      expect(out.failed).toEqual([])
    }
    await write()
    await write()
    // then the old key dropped (every indexer upgraded): written again, still once
    await t.database.pool.query('DROP INDEX notification_unique_idx')
    await write()
    const rows = await t.database.pool.query(`SELECT did, "recordUri", reason FROM notification ORDER BY "recordUri"`)
    expect(rows.rows).toEqual([
      { did: 'did:plc:a', recordUri: 'at://did:plc:b/app.bsky.feed.like/1', reason: 'like' },
      { did: b, recordUri: uriOf(a, 'app.bsky.feed.like', 'l1'), reason: 'like' },
    ])
    // the digest is of the columns, not of their concatenation: rows whose columns join to the
    // same text are different rows
    const joined = `INSERT INTO notification (did, "recordUri", "recordCid", author, reason, "reasonSubject", "sortAt")
      VALUES ($1, $2, 'bafy', 'did:plc:b', 'like', NULL, '2026-01-01T00:00:00.000Z')`
    await t.database.pool.query(joined, ['c', 'at://ab'])
    await t.database.pool.query(joined, ['bc', 'at://a'])
    await expect(t.database.pool.query(joined, ['c', 'at://ab'])).rejects.toMatchObject({ code: '23505' })
  })
})
