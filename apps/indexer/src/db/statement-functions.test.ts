import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestDb, type TestDb } from '../test/db.js'
import { migrate, STATEMENT_FUNCTIONS } from './migrator.js'
import { indexBatch } from '../writer/index-batch.js'
import { NOTIFY } from '../writer/notifications.js'
import { createdAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { createDb } from './database.js'
import { callStatementFunction, ensureStatementFunctions, statementFunction, statementFunctionDdl } from './statement-functions.js'

const dbs: TestDb[] = []
afterEach(async () => {
  await Promise.all(dbs.splice(0).map((d) => d.drop()))
})

async function functionsIn(t: TestDb): Promise<Map<string, string[]>> {
  const r = await sql<{ proname: string; proconfig: string[] | null }>`SELECT proname, proconfig FROM pg_proc
    WHERE proname LIKE 'indexer_%' AND pronamespace = current_schema()::regnamespace`.execute(t.database.db)
  return new Map(r.rows.map((x) => [x.proname, x.proconfig ?? []]))
}

describe('statement functions', () => {
  it('are named after their definition: another body, argument list or result is another function', () => {
    const a = statementFunction('indexer_t', ['text[]'], 'SELECT 1 FROM unnest($1)')
    expect(statementFunction('indexer_t', ['text[]'], 'SELECT 1 FROM unnest($1)').name).toBe(a.name)
    expect(a.name).toMatch(/^indexer_t_[0-9a-f]{16}$/)
    const others = [
      statementFunction('indexer_t', ['text[]'], 'SELECT 2 FROM unnest($1)'),
      statementFunction('indexer_t', ['int[]'], 'SELECT 1 FROM unnest($1)'),
      statementFunction('indexer_t', ['text[]'], 'SELECT 1 FROM unnest($1)', 'TABLE(x int)'),
    ]
    for (const o of others) expect(o.name).not.toBe(a.name)
    expect(() => statementFunctionDdl(statementFunction('indexer_t', [], 'SELECT $stmt$'))).toThrow(/quote/)
    expect(() => callStatementFunction(a, [])).toThrow(/0 values for 1 arguments/)
  })

  it('the migrator creates this build’s, planned generically; another build’s stay beside them', async () => {
    const t = await createTestDb()
    dbs.push(t)
    const fns = await functionsIn(t)
    for (const f of STATEMENT_FUNCTIONS) expect(fns.get(f.name)).toEqual(['plan_cache_mode=force_generic_plan', 'enable_seqscan=off'])
    // a build with another version of a statement: both exist, each build calls its own
    const other = statementFunction('indexer_notify', ['text[]'], 'PERFORM count(*) FROM unnest($1)')
    expect(await migrate(t.database, { functions: [...STATEMENT_FUNCTIONS, other] })).toEqual({ applied: [] })
    const after = await functionsIn(t)
    for (const f of [...STATEMENT_FUNCTIONS, other]) expect(after.has(f.name)).toBe(true)
    // nothing to create the second time
    await t.database.db.transaction().execute(async (trx) => {
      expect(await ensureStatementFunctions(trx, [...STATEMENT_FUNCTIONS, other])).toEqual([])
    })
  })

  it('runs a statement and returns the rows of a TABLE one, with the statement’s own column names', async () => {
    const t = await createTestDb({ migrated: false })
    dbs.push(t)
    await sql`CREATE TABLE item (uri varchar PRIMARY KEY, n int NOT NULL)`.execute(t.database.db)
    const write = statementFunction(
      'indexer_t_write',
      ['text[]', 'int[]'],
      'INSERT INTO item (uri, n) SELECT * FROM unnest($1, $2) ON CONFLICT (uri) DO UPDATE SET n = excluded.n',
    )
    // `uri` and `n` are also the names of the result's columns: the table's win
    const read = statementFunction(
      'indexer_t_read',
      ['text[]'],
      'SELECT uri, n FROM item WHERE uri = ANY($1) ORDER BY uri',
      'TABLE(uri varchar, n int)',
    )
    await t.database.db.transaction().execute(async (trx) => {
      expect(await ensureStatementFunctions(trx, [write, read])).toEqual([write.name, read.name])
    })
    for (let i = 0; i < 7; i++) {
      // more runs than the custom plans Postgres would make before a generic one
      await callStatementFunction(write, [
        ['a', 'b', 'c'],
        [i, i + 1, i + 2],
      ]).execute(t.database.db)
    }
    await callStatementFunction(write, [[], []]).execute(t.database.db)
    const rows = await callStatementFunction<{ uri: string; n: number }>(read, [['a', 'c', 'z']]).execute(t.database.db)
    expect(rows.rows).toEqual([
      { uri: 'a', n: 6 },
      { uri: 'c', n: 8 },
    ])
  })

  it('a batch that finds one missing (a restored database) creates them and is written, nothing refused', async () => {
    const t = await createTestDb()
    dbs.push(t)
    await sql.raw(`DROP FUNCTION ${NOTIFY.name}`).execute(t.database.db)
    const [a, b] = [did(1), did(2)]
    const post = uriOf(b, 'app.bsky.feed.post', 'p1')
    const out = await indexBatch(t.database, [
      writeEvent(b, 'app.bsky.feed.post', 'p1', tid(1), { text: 'hi', createdAt }),
      writeEvent(a, 'app.bsky.feed.like', 'l1', tid(2), { subject: strongRef(post), createdAt }),
    ])
    expect(out.outcomes.map((o) => o.status)).toEqual(['applied', 'applied'])
    expect((await functionsIn(t)).has(NOTIFY.name)).toBe(true)
    const n = await sql<{ did: string; reason: string }>`SELECT did, reason FROM notification`.execute(t.database.db)
    expect(n.rows).toEqual([{ did: b, reason: 'like' }])
  })

  it('read by index, whatever the size of the tables when their plan was made', async () => {
    // One server connection, so that the functions' generic plans are made on the empty tables
    // and then kept while the tables grow (as in a first backfill: nothing invalidates them until
    // an ANALYZE of the table). Made then, a plan chose sequential scans: every batch read the
    // whole notification table to delete the stale rows it had found by index.
    const t = await createTestDb()
    dbs.push(t)
    const one = createDb(t.directUrl, 1)
    try {
      const [a, b, c] = [did(1), did(2), did(3)]
      const post = (n: number) => uriOf(b, 'app.bsky.feed.post', `p${n}`)
      const batch = async (n: number) => {
        const out = await indexBatch(one, [
          writeEvent(b, 'app.bsky.feed.post', `p${n}`, tid(10 * n), { text: 'hi', createdAt }),
          writeEvent(c, 'app.bsky.feed.post', `r${n}`, tid(10 * n + 1), {
            text: 're',
            createdAt,
            reply: { root: strongRef(post(n)), parent: strongRef(post(n)) },
          }),
          writeEvent(a, 'app.bsky.feed.like', `l${n}`, tid(10 * n + 2), { subject: strongRef(post(n)), createdAt }),
          ...(n > 1 ? [deleteEvent(a, 'app.bsky.feed.like', `l${n - 1}`, tid(10 * n + 3))] : []),
        ])
        expect(out.failed).toEqual([])
      }
      for (let n = 1; n <= 3; n++) await batch(n)
      // the tables grow (rows no batch reads), without an ANALYZE
      await sql`INSERT INTO post (uri, cid, creator, text, "createdAt", "indexedAt")
        SELECT 'at://did:plc:x' || i || '/app.bsky.feed.post/p', 'c', 'did:plc:x' || i, 't', ${createdAt}, ${createdAt}
        FROM generate_series(1, 20000) AS i`.execute(one.db)
      await sql`INSERT INTO record (uri, cid, did, json, "indexedAt")
        SELECT 'at://did:plc:x' || i || '/app.bsky.feed.post/p', 'c', 'did:plc:x' || i, '{}', ${createdAt}
        FROM generate_series(1, 20000) AS i`.execute(one.db)
      await sql`INSERT INTO notification (did, "recordUri", "recordCid", author, reason, "sortAt")
        SELECT 'did:plc:y' || i, 'at://did:plc:x' || i || '/app.bsky.feed.like/l', 'c', 'did:plc:x' || i, 'like', ${createdAt}
        FROM generate_series(1, 20000) AS i`.execute(one.db)
      const seqScans = async (): Promise<Record<string, number>> => {
        await sql`SELECT pg_stat_force_next_flush()`.execute(one.db)
        const r = await sql<{ relname: string; seq_scan: string }>`SELECT relname, seq_scan FROM pg_stat_user_tables
          WHERE relname IN ('post', 'notification', 'like', 'record')`.execute(one.db)
        return Object.fromEntries(r.rows.map((x) => [x.relname, Number(x.seq_scan)]))
      }
      const before = await seqScans()
      for (let n = 4; n <= 6; n++) await batch(n)
      expect(await seqScans()).toEqual(before)
      const n = await sql<{ reason: string; count: string }>`SELECT reason, count(*) FROM notification
        WHERE did = ${b} GROUP BY reason ORDER BY reason`.execute(one.db)
      // (the likes of p1..p5 deleted, p6's kept; a reply to each post)
      expect(n.rows).toEqual([
        { reason: 'like', count: '1' },
        { reason: 'reply', count: '6' },
      ])
    } finally {
      await one.close()
    }
  })
})
