import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StreamEvent } from '@firehose/streams'
import { createTestDb, dumpTable, type TestDb } from '../test/db.js'
import { generateHistory, rng, shuffle } from '../test/workload.js'
import { indexBatch } from './index-batch.js'
import { createDb } from '../db/database.js'

const TABLES: [string, string[]][] = [
  ['record', []],
  ['record_tombstone', []],
  ['post', []],
  ['feed_item', []],
  ['like', []],
  ['repost', []],
  ['follow', []],
  ['actor_block', []],
  ['profile', []],
  ['post_agg', []],
  ['profile_agg', []],
  ['duplicate_record', []],
  ['quote', []],
  ['post_embed_record', []],
  ['post_embed_image', []],
  ['post_embed_external', []],
  ['post_embed_video', []],
  ['post_embed_gallery_image', []],
  ['op_thread_reply', []],
  ['list', []],
  ['list_item', []],
  ['list_block', []],
  ['feed_generator', []],
  ['starter_pack', []],
  ['labeler', []],
  ['thread_gate', []],
  ['post_gate', []],
  ['verification', []],
  ['actor_sync', []],
  // actor.indexedAt is when the DID was first seen, which depends on delivery order
  ['actor', ['indexedAt']],
]

const TRUNCATE = `record, record_tombstone, post, feed_item, "like", repost, follow, actor_block, profile, post_agg,
  profile_agg, duplicate_record, quote, post_embed_record, post_embed_image, post_embed_external, post_embed_video, post_embed_gallery_image, op_thread_reply,
  list, list_item, list_block, feed_generator, starter_pack, labeler, thread_gate, post_gate, verification,
  actor, actor_sync`

const FLAGS = ['hasThreadGate', 'hasPostGate', 'violatesThreadGate', 'violatesEmbeddingRules']
const flagsSeen = new Set<string>()

async function snapshot(t: TestDb): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {}
  for (const [table, exclude] of TABLES) out[table] = await dumpTable(t.database, table, exclude)
  return out
}

async function applyAll(t: TestDb, batches: StreamEvent[][]): Promise<void> {
  for (const batch of batches) {
    const res = await indexBatch(t.database, batch)
    expect(res.failed, JSON.stringify(res.outcomes.filter((o) => o.status === 'failed'))).toEqual([])
  }
}

describe('order-insensitivity', () => {
  let a: TestDb
  let b: TestDb
  beforeAll(async () => {
    ;[a, b] = await Promise.all([createTestDb(), createTestDb()])
  })
  afterAll(async () => {
    await Promise.all([a?.drop(), b?.drop()])
  })

  it('seed 4: 4 concurrent writers of shuffled batches == rev order one at a time', async () => {
    await Promise.all([a, b].map((t) => t.database.pool.query(`TRUNCATE ${TRUNCATE}`)))
    const history = generateHistory(4, 4, 400)
    await applyAll(a, history.map((e) => [e]))
    const r = rng(4 * 7919)
    const mixed = shuffle(r, [...history, ...history.filter(() => r() < 0.2)])
    const batches: StreamEvent[][] = []
    for (let i = 0; i < mixed.length; i += 25) batches.push(mixed.slice(i, i + 25))
    let next = 0
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let batch = batches[next++]; batch; batch = batches[next++]) await applyAll(b, [batch])
      }),
    )
    const [sa, sb] = await Promise.all([snapshot(a), snapshot(b)])
    for (const [table] of TABLES) expect(sb[table], table).toEqual(sa[table])
  })

  it('seed 5: 4 writers with their own database handles (as 4 processes: Postgres locks only) == rev order', async () => {
    await Promise.all([a, b].map((t) => t.database.pool.query(`TRUNCATE ${TRUNCATE}`)))
    const history = generateHistory(5, 4, 400)
    await applyAll(a, history.map((e) => [e]))
    const r = rng(5 * 7919)
    const mixed = shuffle(r, [...history, ...history.filter(() => r() < 0.2)])
    const batches: StreamEvent[][] = []
    for (let i = 0; i < mixed.length; i += 25) batches.push(mixed.slice(i, i + 25))
    const handles = Array.from({ length: 4 }, () => createDb(b.url, 2))
    try {
      let next = 0
      await Promise.all(
        handles.map(async (database) => {
          for (let batch = batches[next++]; batch; batch = batches[next++]) {
            const res = await indexBatch(database, batch)
            expect(res.failed).toEqual([])
          }
        }),
      )
    } finally {
      await Promise.all(handles.map((h) => h.close()))
    }
    const [sa, sb] = await Promise.all([snapshot(a), snapshot(b)])
    for (const [table] of TABLES) expect(sb[table], table).toEqual(sa[table])
  })

  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: rev order one at a time == shuffled, 20% duplicates, random batch sizes`, async () => {
      await Promise.all([a, b].map((t) => t.database.pool.query(`TRUNCATE ${TRUNCATE}`)))
      const history = generateHistory(seed, 4, 600)
      await applyAll(a, history.map((e) => [e]))

      const r = rng(seed * 7919)
      const mixed = [...history]
      for (const e of history) if (r() < 0.2) mixed.push(e)
      shuffle(r, mixed)
      const batches: StreamEvent[][] = []
      for (let i = 0; i < mixed.length; ) {
        const size = 1 + Math.floor(r() * 60)
        batches.push(mixed.slice(i, i + size))
        i += size
      }
      await applyAll(b, batches)

      const [sa, sb] = await Promise.all([snapshot(a), snapshot(b)])
      expect(sa.post?.length, 'the workload leaves posts').toBeGreaterThan(0)
      expect(sa.like?.length, 'the workload leaves likes').toBeGreaterThan(0)
      expect(sa.post_agg?.length).toBeGreaterThan(0)
      // every other record type and embed kind (the differential test checks each one)
      const others = ['list', 'list_item', 'list_block', 'feed_generator', 'starter_pack', 'labeler', 'thread_gate', 'post_gate', 'verification', 'post_embed_image', 'post_embed_external', 'post_embed_video', 'quote']
      expect(others.filter((t) => (sa[t]?.length ?? 0) > 0).length, 'tables of other types with rows').toBeGreaterThanOrEqual(10)
      for (const flag of FLAGS) if (sa.post?.some((p) => p.includes(`"${flag}":"true"`))) flagsSeen.add(flag)
      for (const [table] of TABLES) expect(sb[table], table).toEqual(sa[table])
    })
  }

  it('the seeds above leave posts with every gate flag and violation set', () => {
    expect([...flagsSeen].sort()).toEqual([...FLAGS].sort())
  })
})
