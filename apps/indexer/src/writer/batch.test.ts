import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Registry } from '@firehose/service'
import { createTestDb, type TestDb } from '../test/db.js'
import { createdAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { createIndexerMetrics } from '../metrics.js'
import { indexLabels } from '../labels.js'
import { indexBatch } from './index-batch.js'
import { createDb } from '../db/database.js'

let t: TestDb
let rev = 5000
const next = () => tid(rev++)
const q = async (text: string, params: unknown[] = []) => (await t.database.pool.query(text, params)).rows

beforeAll(async () => {
  t = await createTestDb({ poolMax: 8 })
  // a real refusal by Postgres for one kind of entry (SQLSTATE 22023, a data exception)
  await q(`CREATE FUNCTION refuse_post() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.text = 'refuse me' THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '22023'; END IF; RETURN NEW; END $$`)
  await q(`CREATE TRIGGER refuse_post BEFORE INSERT ON post FOR EACH ROW EXECUTE FUNCTION refuse_post()`)
})
afterAll(async () => {
  await t?.drop()
})

describe('indexBatch', () => {
  it('a failing entry does not block the others; it is reported with its error', async () => {
    const registry = new Registry()
    const metrics = createIndexerMetrics(registry)
    const a = did(100)
    const good1 = writeEvent(a, 'app.bsky.feed.post', 'ok1', next(), { text: 'fine', createdAt })
    // valid per lexicon, but Postgres refuses it (a trigger of the test): the batch transaction fails
    const bad = writeEvent(a, 'app.bsky.feed.post', 'nul', next(), { text: 'refuse me', createdAt })
    const good2 = writeEvent(a, 'app.bsky.feed.like', 'ok2', next(), {
      subject: strongRef(uriOf(a, 'app.bsky.feed.post', 'ok1')),
      createdAt,
    })
    const res = await indexBatch(t.database, [good1, bad, good2], { metrics })
    expect(res.isolated).toBe(true)
    expect(res.failed).toEqual([1])
    expect(res.outcomes.map((o) => o.status)).toEqual(['applied', 'failed', 'applied'])
    expect(res.outcomes[1]?.error?.name).toBe('BatchWriteError')
    expect(await q(`SELECT uri FROM post WHERE creator = $1`, [a])).toEqual([{ uri: uriOf(a, 'app.bsky.feed.post', 'ok1') }])
    expect(await q(`SELECT "likeCount"::int FROM post_agg WHERE uri = $1`, [uriOf(a, 'app.bsky.feed.post', 'ok1')])).toEqual([
      { likeCount: 1 },
    ])
    const text = await registry.metrics()
    expect(text).toContain('indexer_batch_isolations_total 1')
    expect(text).toMatch(/indexer_entries_refused_total\{sqlstate="22023"\} 1/)
    expect(text).toMatch(/indexer_records_written_total\{collection="app.bsky.feed.post",op="create"\} 1/)
    expect(text).toMatch(/indexer_events_indexed_total\{type="create",outcome="failed"\} 1/)
  })

  it('a refused entry costs its batch about 2·log2(n) transactions (bisection), not one per entry', async () => {
    const registry = new Registry()
    const metrics = createIndexerMetrics(registry)
    const a = did(102)
    const events = Array.from({ length: 64 }, (_, i) =>
      writeEvent(a, 'app.bsky.feed.post', `b${i}`, next(), { text: i === 37 ? 'refuse me' : `ok ${i}`, createdAt }),
    )
    const res = await indexBatch(t.database, events, { metrics })
    expect(res.failed).toEqual([37])
    expect(await q(`SELECT count(*)::int AS n FROM post WHERE creator = $1`, [a])).toEqual([{ n: 63 }])
    const text = await registry.metrics()
    // 1 (the batch) + 2 per level of a 64-entry bisection (6 levels) = 13, against 65 entry by entry
    expect(text).toMatch(/indexer_db_transaction_duration_seconds_count 13\n/)
  })

  it('an unreachable database fails every entry at once, without per-entry retries', async () => {
    const down = createDb('postgres://postgres@127.0.0.1:1/nowhere', 1, { connectionTimeoutMillis: 2000 })
    try {
      const a = did(150)
      const events = [1, 2, 3].map((i) => writeEvent(a, 'app.bsky.feed.post', `p${i}`, next(), { text: 'x', createdAt }))
      const res = await indexBatch(down, events)
      expect(res.isolated).toBe(false)
      expect(res.failed).toEqual([0, 1, 2])
      expect(res.outcomes[0]?.error?.name).toBe('BatchWriteError')
    } finally {
      await down.close()
    }
  })

  it('sets statement_timeout with SET LOCAL semantics when asked', async () => {
    const a = did(151)
    const res = await indexBatch(t.database, [writeEvent(a, 'app.bsky.feed.post', 'st', next(), { text: 'x', createdAt })], {
      statementTimeoutMs: 5000,
    })
    expect(res.outcomes[0]?.status).toBe('applied')
    // transaction-local: the pooled session is back to the default afterwards
    const rows = await q(`SHOW statement_timeout`)
    expect(rows[0]?.statement_timeout).toBe('0')
  })

  it('same-batch reduction: the highest rev wins, a delete wins a tie, duplicates are unchanged', async () => {
    const a = did(101)
    const c = 'app.bsky.feed.post'
    const r1 = next()
    const r2 = next()
    const r3 = next()
    const v1 = writeEvent(a, c, 'x', r1, { text: 'v1', createdAt })
    const v2 = writeEvent(a, c, 'x', r2, { text: 'v2', createdAt }, 'update')
    const res = await indexBatch(t.database, [v2, v1, v2])
    expect(res.outcomes.map((o) => o.status)).toEqual(['applied', 'stale', 'unchanged'])
    expect(await q(`SELECT text FROM post WHERE uri = $1`, [uriOf(a, c, 'x')])).toEqual([{ text: 'v2' }])
    // a write and a delete carrying the same rev: the delete wins, in either order
    const w3 = writeEvent(a, c, 'x', r3, { text: 'v3', createdAt }, 'update')
    const d3 = deleteEvent(a, c, 'x', r3)
    const res2 = await indexBatch(t.database, [d3, w3])
    expect(res2.outcomes.map((o) => o.status)).toEqual(['applied', 'stale'])
    expect(await q(`SELECT * FROM post WHERE uri = $1`, [uriOf(a, c, 'x')])).toEqual([])
    expect((await indexBatch(t.database, [w3])).outcomes[0]?.status).toBe('stale')
  })

  it('concurrent batches on one hot post leave exact counts (recount under lock)', async () => {
    const subject = uriOf(did(102), 'app.bsky.feed.post', 'hot')
    const batches = Array.from({ length: 8 }, (_, b) =>
      Array.from({ length: 25 }, (_, i) =>
        writeEvent(did(200 + b * 25 + i), 'app.bsky.feed.like', 'hot', next(), { subject: strongRef(subject), createdAt }),
      ),
    )
    const results = await Promise.all(batches.map((batch) => indexBatch(t.database, batch)))
    for (const r of results) expect(r.failed).toEqual([])
    expect(await q(`SELECT "likeCount"::int FROM post_agg WHERE uri = $1`, [subject])).toEqual([{ likeCount: 200 }])
  })
})

describe('account and identity events', () => {
  it('a redelivered older event does not revert the status or the handle', async () => {
    const a = did(160)
    const at = (s: number) => `2026-02-01T00:00:${String(s).padStart(2, '0')}.000Z`
    const suspended = { type: 'account' as const, seq: 10, time: at(1), did: a, active: false, status: 'suspended' }
    const active = { type: 'account' as const, seq: 11, time: at(2), did: a, active: true }
    const h1 = { type: 'identity' as const, seq: 12, time: at(3), did: a, handle: 'one.test' }
    const h2 = { type: 'identity' as const, seq: 13, time: at(4), did: a, handle: 'two.test' }
    const status = async () => (await q(`SELECT handle, "upstreamStatus" FROM actor WHERE did = $1`, [a]))[0]
    expect((await indexBatch(t.database, [active, h2])).outcomes.map((o) => o.status)).toEqual(['applied', 'applied'])
    expect((await indexBatch(t.database, [suspended, h1])).outcomes.map((o) => o.status)).toEqual(['stale', 'stale'])
    expect(await status()).toEqual({ handle: 'two.test', upstreamStatus: null })
    // within one batch, the newest wins whatever the order
    const b = did(161)
    const res = await indexBatch(t.database, [
      { ...active, did: b },
      { ...suspended, did: b },
      { ...h2, did: b, handle: 'b2.test' },
      { ...h1, did: b, handle: 'b1.test' },
    ])
    expect(res.outcomes.map((o) => o.status)).toEqual(['applied', 'stale', 'applied', 'stale'])
    expect((await q(`SELECT handle, "upstreamStatus" FROM actor WHERE did = $1`, [b]))[0]).toEqual({
      handle: 'b2.test',
      upstreamStatus: null,
    })
    // a newer deletion applies; an older reactivation redelivered afterwards does not undo it
    await indexBatch(t.database, [{ type: 'account', seq: 20, time: at(9), did: a, active: false, status: 'deleted' }])
    await indexBatch(t.database, [active])
    expect(await status()).toMatchObject({ upstreamStatus: 'deleted' })
  })
})

describe('indexBatch: sizes and unknown input', () => {
  it('ignores event types it does not know; indexes a 5000-event batch (mostly duplicates) in one go', async () => {
    const unknown = { type: 'unknown', rawType: 'sync' } as unknown as Parameters<typeof indexBatch>[1][number]
    const events = Array.from({ length: 5000 }, (_, i) =>
      writeEvent(did(1000 + (i % 700)), 'app.bsky.feed.like', tid(900_000 + i), next(), {
        subject: strongRef(uriOf(did(5), 'app.bsky.feed.post', `s${i % 50}`)),
        createdAt,
      }),
    )
    const res = await indexBatch(t.database, [unknown, ...events])
    expect(res.outcomes[0]?.status).toBe('ignored')
    expect(res.failed).toEqual([])
    expect(res.outcomes.filter((o) => o.status === 'applied')).toHaveLength(5000)
    // 700 creators × 50 subjects with i % 700 fixing i % 50: 700 distinct (creator, subject)
    // pairs, so 700 likes are kept and the other 4300 are duplicates of them
    const sum = await q(`SELECT sum("likeCount")::int AS n FROM post_agg WHERE uri LIKE $1`, [
      `${uriOf(did(5), 'app.bsky.feed.post', 's')}%`,
    ])
    expect(sum).toEqual([{ n: 700 }])
    const dups = await q(`SELECT count(*)::int AS n FROM duplicate_record d JOIN "like" l ON l.uri = d."duplicateOf" WHERE d.uri > l.uri`)
    expect(dups).toEqual([{ n: 4300 }])
  })
})

describe('indexLabels', () => {
  it('upserts by (src, uri, cid, val); the newer cts wins; an early negation is kept', async () => {
    const src = 'did:plc:labeler'
    const uri = 'at://did:plc:x/app.bsky.feed.post/1'
    const t1 = '2026-01-01T00:00:00.000Z'
    const t2 = '2026-01-02T00:00:00.000Z'
    // negation first (newer), then the label it negates (older): the negation stays
    expect(await indexLabels(t.database, [{ src, uri, val: 'spam', neg: true, cts: t2 }])).toEqual(['applied'])
    expect(await indexLabels(t.database, [{ src, uri, val: 'spam', cts: t1 }])).toEqual(['stale'])
    expect(await q(`SELECT cid, neg, cts FROM label WHERE val = 'spam'`)).toEqual([{ cid: '', neg: true, cts: t2 }])
    // a newer label re-applies it; within a batch the newest version wins
    const t3 = '2026-01-03T00:00:00Z'
    const out = await indexLabels(t.database, [
      { src, uri, val: 'spam', cts: t3 },
      { src, uri, val: 'spam', neg: true, cts: t1 },
      { src, uri, cid: 'bafyx', val: 'spam', cts: t1, exp: '2030-01-01T00:00:00.000Z' },
      { src, uri, val: 'x', cts: 'not a date' },
    ])
    expect(out).toEqual(['applied', 'stale', 'applied', 'invalid'])
    expect(await q(`SELECT cid, neg, cts, exp FROM label WHERE val = 'spam' ORDER BY cid`)).toEqual([
      { cid: '', neg: false, cts: t3, exp: null },
      { cid: 'bafyx', neg: false, cts: t1, exp: '2030-01-01T00:00:00.000Z' },
    ])
  })
})
