import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '@firehose/service'
import { waitFor } from '@firehose/testkit/wait'
import { encodeEvent } from '@firehose/streams'
import { loadConfig } from './config.js'
import { startIndexer, type RunningIndexer } from './indexer.js'
import { createTestDb, type TestDb } from './test/db.js'
import { createdAt, did, tid, uriOf, writeEvent, deleteEvent } from './test/events.js'

describe('indexer: Redis consumer groups into Postgres', () => {
  let db: TestDb
  let indexer: RunningIndexer
  const redis = new Redis(process.env.REDIS_URL as string)
  const tag = randomBytes(4).toString('hex')
  const live = `fl_${tag}`
  const backfill = `fb_${tag}`
  const labels = `ll_${tag}`
  // no row yet counts as -1, never as a matching 0
  const count = async (sql: string) => Number((await db.database.pool.query(sql)).rows[0]?.n ?? -1)

  beforeAll(async () => {
    db = await createTestDb({ migrated: false })
    const config = loadConfig({
      REDIS_URL: process.env.REDIS_URL,
      DATABASE_URL: db.url,
      INDEXER_CONSUMER: 'test-1',
      INDEXER_STREAMS: `${live},${backfill}`,
      INDEXER_LABEL_STREAM: labels,
      INDEXER_READ_BATCH: '50',
      INDEXER_CONCURRENCY_PER_SHARD: '4',
      INDEXER_MAX_DELIVERIES: '2',
      ENABLE_DID_RESOLUTION: 'false',
      METRICS_PORT: '0',
      DB_POOL_MIN_IDLE: '2',
    })
    indexer = await startIndexer(config, createLogger('indexer-test', 'warn'))
  })
  afterAll(async () => {
    await indexer?.close()
    await db?.drop()
    await redis.del(live, backfill, labels, `${live}_dlq`, `${labels}_dlq`)
    await redis.quit()
  })

  it('gives its pool DB_POOL_MIN_IDLE (node-postgres `min`)', () => {
    expect(indexer.database.pool.options.min).toBe(2)
  })

  it('reads the old names INDEXER_CONCURRENCY and INDEXER_BATCH_SIZE; the new names win', () => {
    const base = { DATABASE_URL: 'postgres://x/y', INDEXER_CONSUMER: 'c' }
    const old = loadConfig({ ...base, INDEXER_CONCURRENCY: '3', INDEXER_BATCH_SIZE: '40' })
    expect(old).toMatchObject({ concurrencyPerShard: 3, readBatch: 40, dbPoolMaxSize: 6 })
    expect(old.deprecatedVariables.map((d) => d.use)).toEqual(['INDEXER_CONCURRENCY_PER_SHARD', 'INDEXER_READ_BATCH'])
    expect(loadConfig({ ...base, INDEXER_CONCURRENCY: '3', INDEXER_CONCURRENCY_PER_SHARD: '5', INDEXER_READ_BATCH: '60' })).toMatchObject({
      concurrencyPerShard: 5,
      readBatch: 60,
    })
  })

  it('rejects a bad configuration naming the variable', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://x/y', INDEXER_CONCURRENCY_PER_SHARD: 'lots' })).toThrow(
      /INDEXER_CONCURRENCY_PER_SHARD.*integer/,
    )
    expect(() => loadConfig({ DATABASE_URL: 'postgres://x/y' })).toThrow(/INDEXER_CONSUMER: is required/)
    expect(() => loadConfig({ DATABASE_URL: 'postgres://x/y', INDEXER_CONSUMER: 'c', INDEXER_NOTIFICATIONS: 'maybe' })).toThrow(
      /INDEXER_NOTIFICATIONS.*true or false/,
    )
  })

  it('writes notifications unless INDEXER_NOTIFICATIONS=false', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://x/y', INDEXER_CONSUMER: 'c' }).notifications).toBe(true)
    expect(loadConfig({ DATABASE_URL: 'postgres://x/y', INDEXER_CONSUMER: 'c', INDEXER_NOTIFICATIONS: 'false' }).notifications).toBe(false)
  })

  it("indexes live and backfill entries, in the earlier workers' format too, and acks them", async () => {
    const alice = did(1000)
    const bob = did(1001)
    const post = writeEvent(alice, 'app.bsky.feed.post', tid(1), tid(1), { text: 'hello', createdAt })
    const like = writeEvent(bob, 'app.bsky.feed.like', tid(2), tid(2), {
      subject: { uri: uriOf(alice, 'app.bsky.feed.post', tid(1)), cid: post.cid },
      createdAt,
    })
    await redis.xadd(live, '*', 'event', encodeEvent(post))
    // backfill entry as older writers wrote it: seq -1
    await redis.xadd(backfill, '*', 'event', JSON.stringify({ ...like, seq: -1 }))
    await waitFor(
      async () => (await count(`select count(*) n from "like"`)) === 1 && (await count(`select count(*) n from post`)) === 1,
      20_000,
      'rows',
    )
    await waitFor(async () => (await count(`select "likeCount" n from post_agg`)) === 1, 20_000, 'post_agg')
    await waitFor(async () => Number(((await redis.xpending(live, 'indexer_group')) as [number])[0]) === 0, 5000, 'acks')
    // a delete arrives; the older create replayed afterwards does not bring it back
    await redis.xadd(live, '*', 'event', encodeEvent(deleteEvent(bob, 'app.bsky.feed.like', tid(2), tid(3))))
    await redis.xadd(live, '*', 'event', encodeEvent(like))
    await waitFor(async () => (await count(`select count(*) n from "like"`)) === 0, 20_000, 'like deleted')
    await waitFor(async () => (await count(`select "likeCount" n from post_agg`)) === 0, 20_000, 'recount')
  })

  it('dead-letters a malformed entry with its error and keeps going', async () => {
    await redis.xadd(live, '*', 'event', '{"type":"create","seq":1')
    await redis.xadd(live, '*', 'nothing', 'here')
    const ev = writeEvent(did(1002), 'app.bsky.graph.follow', tid(5), tid(5), { subject: did(1000), createdAt })
    await redis.xadd(live, '*', 'event', encodeEvent(ev))
    await waitFor(async () => (await redis.xlen(`${live}_dlq`)) === 2, 20_000, 'dlq')
    await waitFor(async () => (await count(`select count(*) n from follow`)) === 1, 20_000, 'follow')
    const dlq = (await redis.xrange(`${live}_dlq`, '-', '+')) as [string, string[]][]
    expect(dlq[0]?.[1]).toContain('error')
    expect(dlq[0]?.[1].join(' ')).toMatch(/malformed entry/)
  })

  it("indexes labels in our format and in rsky's", async () => {
    const label = {
      src: 'did:plc:labeler',
      uri: uriOf(did(1000), 'app.bsky.feed.post', tid(1)),
      val: 'spam',
      cts: '2026-01-01T00:00:00.000Z',
    }
    await redis.xadd(labels, '*', 'event', JSON.stringify({ type: 'label', label }))
    await redis.xadd(labels, '*', 'labels', JSON.stringify({ seq: 9, labels: [{ ...label, val: 'porn', sig: [1, 2, 3] }] }))
    await waitFor(async () => (await count(`select count(*) n from label`)) === 2, 20_000, 'labels')
  })

  it('records and labels Postgres would refuse: handled with a metric, and the rest of their batch is indexed', async () => {
    const carol = did(1010)
    // a stored version of the label the bad one would replace (its cts is then cast to compare)
    await db.database.pool.query(
      `INSERT INTO label (src, uri, cid, val, neg, cts) VALUES ('did:plc:labeler', $1, '', 'leap', false, '2025-01-01T00:00:00.000Z')`,
      [uriOf(carol, 'app.bsky.feed.post', tid(20))],
    )
    const p = redis.pipeline()
    p.xadd(
      live,
      '*',
      'event',
      encodeEvent(writeEvent(carol, 'app.bsky.feed.post', tid(20), tid(20), { text: 'nul\u0000here', createdAt, tags: ['a\u0000'] })),
    )
    p.xadd(live, '*', 'event', encodeEvent(writeEvent(carol, 'app.bsky.actor.profile', 'self', tid(21), { displayName: 'Car\u0000ol' })))
    p.xadd(live, '*', 'event', encodeEvent(writeEvent(carol, 'app.bsky.graph.follow', tid(22), tid(22), { subject: did(1000), createdAt })))
    const label = { src: 'did:plc:labeler', uri: uriOf(carol, 'app.bsky.feed.post', tid(20)), cts: '2026-01-01T00:00:00.000Z' }
    // one rsky-style entry: a good label and one whose cts Date.parse reads and Postgres refuses
    p.xadd(
      labels,
      '*',
      'labels',
      JSON.stringify({
        seq: 10,
        labels: [
          { ...label, val: 'good-a' },
          { ...label, val: 'leap', cts: '2026-02-29T00:00:00Z' },
        ],
      }),
    )
    p.xadd(labels, '*', 'event', JSON.stringify({ type: 'label', label: { ...label, val: 'zone', cts: '2026-01-01T00:00:00+16:00' } }))
    p.xadd(labels, '*', 'event', JSON.stringify({ type: 'label', label: { ...label, val: 'good-b' } }))
    await p.exec()
    await waitFor(async () => (await count(`select count(*) n from follow where creator = '${carol}'`)) === 1, 20_000, 'follow')
    await waitFor(
      async () => (await count(`select count(*) n from post where creator = '${carol}' and text = 'nul\ufffdhere'`)) === 1,
      20_000,
      'post',
    )
    await waitFor(
      async () => (await count(`select count(*) n from profile where creator = '${carol}' and "displayName" = 'Car\ufffdol'`)) === 1,
      20_000,
      'profile',
    )
    await waitFor(async () => (await count(`select count(*) n from label where val in ('good-a', 'good-b')`)) === 2, 20_000, 'labels')
    await waitFor(async () => Number(((await redis.xpending(labels, 'label_group')) as [number])[0]) === 0, 10_000, 'labels acked')
    expect(await redis.exists(`${labels}_dlq`)).toBe(0)
    expect(await count(`select count(*) n from label where val = 'zone' or (val = 'leap' and cts <> '2025-01-01T00:00:00.000Z')`)).toBe(0)
    const m = await (await fetch(`http://127.0.0.1:${indexer.http.port}/metrics`)).text()
    expect(m).toMatch(/indexer_unstorable_text_total\{action="replaced",reason="nul"\} 2/)
    expect(m).toMatch(/indexer_labels_refused_total\{reason="cts"\} 2/)
    expect(m).not.toMatch(/indexer_batch_isolations_total [1-9]/)
  })

  it('a label entry Postgres still refuses fails alone: the label batch is bisected, the other entries are stored and acked', async () => {
    // a real refusal by Postgres that no check before the statement knows about (a trigger of the test)
    await db.database.pool.query(`CREATE FUNCTION refuse_label() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.val = 'refuse-me' THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '22023'; END IF; RETURN NEW; END $$`)
    await db.database.pool.query(`CREATE TRIGGER refuse_label BEFORE INSERT ON label FOR EACH ROW EXECUTE FUNCTION refuse_label()`)
    const label = { src: 'did:plc:labeler2', uri: uriOf(did(1020), 'app.bsky.feed.post', tid(30)), cts: '2026-01-01T00:00:00.000Z' }
    const p = redis.pipeline()
    for (const val of ['ok-1', 'ok-2', 'refuse-me', 'ok-3', 'ok-4', 'ok-5'])
      p.xadd(labels, '*', 'event', JSON.stringify({ type: 'label', label: { ...label, val } }))
    await p.exec()
    await waitFor(
      async () => (await count(`select count(*) n from label where src = 'did:plc:labeler2'`)) === 5,
      20_000,
      'the other labels',
    )
    await waitFor(async () => (await redis.xlen(`${labels}_dlq`)) === 1, 20_000, 'the refused entry dead-lettered')
    await waitFor(async () => Number(((await redis.xpending(labels, 'label_group')) as [number])[0]) === 0, 10_000, 'labels acked')
    const dlq = (await redis.xrange(`${labels}_dlq`, '-', '+')) as [string, string[]][]
    expect(dlq[0]?.[1].join(' ')).toMatch(/refuse-me/)
  })

  it('serves /metrics, /health and /ready', async () => {
    const base = `http://127.0.0.1:${indexer.http.port}`
    expect((await fetch(`${base}/health`)).status).toBe(200)
    expect((await fetch(`${base}/ready`)).status).toBe(200)
    const m = await (await fetch(`${base}/metrics`)).text()
    expect(m).toMatch(/indexer_entries_processed_total\{stream="fl_[0-9a-f]+",type="create"\} [1-9]/)
    expect(m).toMatch(/indexer_stream_pending/)
    expect(m).toMatch(/process_resident_memory_bytes/)
  })
})
