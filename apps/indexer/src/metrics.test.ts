import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Registry } from '@firehose/service'
import { createTestDb, type TestDb } from './test/db.js'
import { createdAt, did, strongRef, tid, writeEvent } from './test/events.js'
import { collectionLabel, createIndexerMetrics } from './metrics.js'
import { indexBatch } from './writer/index-batch.js'

describe('indexer metrics', () => {
  let t: TestDb
  beforeAll(async () => {
    t = await createTestDb()
  })
  afterAll(async () => {
    await t?.drop()
  })

  it('bounded collection labels', () => {
    expect(collectionLabel('app.bsky.feed.like')).toBe('app.bsky.feed.like')
    expect(collectionLabel('app.bsky.graph.list')).toBe('app.bsky.graph.list')
    expect(collectionLabel('com.example.anything')).toBe('other')
  })

  it('counts written, stale, invalid by collection; latency histograms; pool gauges', async () => {
    const registry = new Registry()
    const metrics = createIndexerMetrics(registry)
    metrics.observePool(t.database.pool)
    const a = did(700)
    const like = writeEvent(a, 'app.bsky.feed.like', 'l', tid(20), { subject: strongRef('at://did:plc:q/app.bsky.feed.post/p'), createdAt })
    const older = writeEvent(a, 'app.bsky.feed.like', 'l', tid(10), {
      subject: strongRef('at://did:plc:q/app.bsky.feed.post/p'),
      createdAt,
    })
    const other = writeEvent(a, 'com.example.thing', 'x', tid(21), { v: 1 })
    const invalid = writeEvent(a, 'app.bsky.graph.follow', 'f', tid(22), { subject: 42, createdAt })
    await indexBatch(t.database, [like, other, invalid], { metrics })
    await indexBatch(t.database, [older], { metrics })
    const text = await registry.metrics()
    expect(text).toContain('indexer_records_written_total{collection="app.bsky.feed.like",op="create"} 1')
    expect(text).toContain('indexer_records_written_total{collection="other",op="create"} 1')
    expect(text).toContain('indexer_stale_writes_skipped_total{collection="app.bsky.feed.like"} 1')
    expect(text).toContain('indexer_invalid_records_total{collection="app.bsky.graph.follow"} 1')
    expect(text).toContain('indexer_batch_duration_seconds_count 2')
    expect(text).toContain('indexer_db_transaction_duration_seconds_count 2')
    expect(text).toMatch(/indexer_db_pool_connections [1-9]/)
    expect(text).toContain('indexer_db_pool_waiting_clients 0')
    expect(text).not.toContain(a)
  })
})
