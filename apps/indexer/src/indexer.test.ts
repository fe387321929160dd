import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '@firehose/service'
import { waitFor } from '@firehose/testkit/wait'
import { encodeEvent } from '@firehose/streams'
import { loadConfig } from './config.js'
import { startIndexer, type IndexerHandle } from './indexer.js'
import { createTestDb, type TestDb } from './test/db.js'
import { createdAt, did, tid, uriOf, writeEvent, deleteEvent } from './test/events.js'


describe('indexer: Redis consumer groups into Postgres', () => {
  let db: TestDb
  let indexer: IndexerHandle
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
      INDEXER_BATCH_SIZE: '50',
      INDEXER_CONCURRENCY: '4',
      INDEXER_MAX_DELIVERIES: '2',
      ENABLE_DID_RESOLUTION: 'false',
      METRICS_PORT: '0',
    })
    indexer = await startIndexer(config, createLogger('indexer-test', 'warn'))
  })
  afterAll(async () => {
    await indexer?.close()
    await db?.drop()
    await redis.del(live, backfill, labels, `${live}_dlq`)
    await redis.quit()
  })

  it('rejects a bad configuration naming the variable', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://x/y', INDEXER_CONCURRENCY: 'lots' })).toThrow(/INDEXER_CONCURRENCY.*integer/)
    expect(() => loadConfig({ DATABASE_URL: 'postgres://x/y' })).toThrow(/INDEXER_CONSUMER: is required/)
  })

  it('indexes live and backfill entries, in the earlier workers\' format too, and acks them', async () => {
    const alice = did(1000)
    const bob = did(1001)
    const post = writeEvent(alice, 'app.bsky.feed.post', tid(1), tid(1), { text: 'hello', createdAt })
    const like = writeEvent(bob, 'app.bsky.feed.like', tid(2), tid(2), { subject: { uri: uriOf(alice, 'app.bsky.feed.post', tid(1)), cid: post.cid }, createdAt })
    await redis.xadd(live, '*', 'event', encodeEvent(post))
    // backfill entry as older writers wrote it: seq -1
    await redis.xadd(backfill, '*', 'event', JSON.stringify({ ...like, seq: -1 }))
    await waitFor(async () => (await count(`select count(*) n from "like"`)) === 1 && (await count(`select count(*) n from post`)) === 1, 20_000, 'rows')
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

  it('indexes labels in our format and in rsky\'s', async () => {
    const label = { src: 'did:plc:labeler', uri: uriOf(did(1000), 'app.bsky.feed.post', tid(1)), val: 'spam', cts: '2026-01-01T00:00:00.000Z' }
    await redis.xadd(labels, '*', 'event', JSON.stringify({ type: 'label', label }))
    await redis.xadd(labels, '*', 'labels', JSON.stringify({ seq: 9, labels: [{ ...label, val: 'porn', sig: [1, 2, 3] }] }))
    await waitFor(async () => (await count(`select count(*) n from label`)) === 2, 20_000, 'labels')
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
