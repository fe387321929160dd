import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StreamEvent } from '@firehose/streams'
import { createTestDb, type TestDb } from '../test/db.js'
import { snapshot, TABLES, TRUNCATE } from '../test/tables.js'
import { generateHistory, rng, shuffle } from '../test/workload.js'
import { indexBatch } from './index-batch.js'
import { createDb } from '../db/database.js'
import { inRevOrder, opsOf, revAt, snapshotAt, withGap } from '../test/rebackfill.js'
import { did, uriOf } from '../test/events.js'
import { prepareEvents } from './prepare.js'
import { NOTIFICATION_REASONS } from '@firehose/testkit'

const FLAGS = ['hasThreadGate', 'hasPostGate', 'violatesThreadGate', 'violatesEmbeddingRules']
const flagsSeen = new Set<string>()
const reasonsSeen = new Set<string>()

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
    await applyAll(
      a,
      history.map((e) => [e]),
    )
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
    await applyAll(
      a,
      history.map((e) => [e]),
    )
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
      await applyAll(
        a,
        history.map((e) => [e]),
      )

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
      // and replayed (a re-backfill): nothing changes, no notification twice
      const once = await snapshot(b)
      const replay: StreamEvent[][] = []
      for (let i = 0; i < history.length; i += 50) replay.push(history.slice(i, i + 50))
      await applyAll(b, replay)
      expect(await snapshot(b)).toEqual(once)

      const [sa, sb] = await Promise.all([snapshot(a), snapshot(b)])
      for (const row of sa.notification ?? []) reasonsSeen.add(String((JSON.parse(row) as { reason: string }).reason))
      expect(sa.post?.length, 'the workload leaves posts').toBeGreaterThan(0)
      expect(sa.like?.length, 'the workload leaves likes').toBeGreaterThan(0)
      expect(sa.post_agg?.length).toBeGreaterThan(0)
      // every other record type and embed kind (the differential test checks each one)
      const others = [
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
        'post_embed_video',
        'quote',
      ]
      expect(others.filter((t) => (sa[t]?.length ?? 0) > 0).length, 'tables of other types with rows').toBeGreaterThanOrEqual(10)
      for (const flag of FLAGS) if (sa.post?.some((p) => p.includes(`"${flag}":"true"`))) flagsSeen.add(flag)
      for (const [table] of TABLES) expect(sb[table], table).toEqual(sa[table])
    })
  }

  for (const seed of [6, 7]) {
    it(`seed ${seed}: re-backfills (commits lost in a gap, an older snapshot late) shuffled among live events, 4 writers == rev order == the full history`, async () => {
      await Promise.all([a, b].map((t) => t.database.pool.query(`TRUNCATE ${TRUNCATE}`)))
      const history = generateHistory(seed, 4, 600)
      // the truth: every commit seen, in order
      await applyAll(
        a,
        history.map((e) => [e]),
      )
      const truth = await snapshot(a)
      await a.database.pool.query(`TRUNCATE ${TRUNCATE}`)
      // did 1: its commits between 30% and 60% of its ops lost, resynced at 60%, and an older
      // snapshot (20%) delivered too; did 2: lost between 50% and 80%, resynced at 80%
      const floors = new Map<string, string>()
      let events = history
      const snaps: StreamEvent[][] = []
      for (const [d, gap, at, older] of [
        [did(1), 0.3, 0.6, 0.2],
        [did(2), 0.5, 0.8, undefined],
      ] as const) {
        const idx = opsOf(history, d)
        const pos = (f: number) => idx[Math.floor(idx.length * f)] as number
        const snap = snapshotAt(history, d, pos(at))
        events = withGap(events, d, revAt(history, pos(gap)), snap.rev)
        snaps.push(snap.events)
        if (older !== undefined) snaps.push(snapshotAt(history, d, pos(older)).events)
        floors.set(d, snap.rev)
      }
      await applyAll(
        a,
        inRevOrder(events, snaps).map((e) => [e]),
      )
      const r = rng(seed * 7919)
      const all = [...events, ...snaps.flat()]
      const mixed = shuffle(r, [...all, ...all.filter(() => r() < 0.2)])
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
      // == the full history, but for what a snapshot cannot know: the rev that wrote a record,
      // and the traces of deletes at or below the floor (tombstones, soft-deleted rows,
      // `unverified` notifications, has*Gate false)
      const below = (row: Record<string, string>, d = row.did ?? '') => floors.has(d) && String(row.rev) <= (floors.get(d) as string)
      const tombBelow = new Set<string>()
      for (const line of truth.record_tombstone ?? []) {
        const row = JSON.parse(line) as Record<string, string>
        if (below(row)) tombBelow.add(row.uri as string)
      }
      // a snapshot's version the indexer refuses (an item of another account's list) ends the
      // record, where the full history keeps the version before the refused update
      const snapEvents = snaps.flat()
      const refused = new Set(
        prepareEvents(snapEvents).flatMap((p) => {
          const e = snapEvents[p.kind === 'record' ? p.op.index : p.index]
          return p.kind === 'invalid' && e && 'rkey' in e ? [uriOf(e.did, e.collection, e.rkey)] : []
        }),
      )
      const gateOf = (post: string, collection: string) => post.replace('/app.bsky.feed.post/', `/app.bsky.feed.${collection}/`)
      const keep = (table: string, rows: string[] = []) =>
        rows.flatMap((l) => {
          const row = JSON.parse(l) as Record<string, string | null>
          const uri = String(row.uri ?? row.recordUri)
          if (refused.has(uri)) return []
          if (table === 'record_tombstone' && below(row as Record<string, string>)) return []
          if (table === 'op_thread_reply' && tombBelow.has(uri)) return []
          if (table === 'notification' && row.reason === 'unverified' && tombBelow.has(uri)) return []
          if (table === 'record') row.rev = null
          // an all-zero count row: which keys were ever touched differs (the gap's events were not)
          if (table.endsWith('_agg') && Object.entries(row).every(([k, v]) => k === 'uri' || k === 'did' || v === '0')) return []
          // the version a delete removed: the snapshot's, at the floor
          const floor = floors.get(String(row.did))
          if (table === 'record_tombstone' && floor !== undefined && row.versionRev !== null && String(row.versionRev) < floor)
            row.versionRev = floor
          if (table === 'post') {
            if (tombBelow.has(gateOf(uri, 'threadgate')) && row.hasThreadGate === 'false') row.hasThreadGate = null
            if (tombBelow.has(gateOf(uri, 'postgate')) && row.hasPostGate === 'false') row.hasPostGate = null
          }
          return [JSON.stringify(row)]
        })
      for (const [table] of TABLES) expect(keep(table, sa[table]), table).toEqual(keep(table, truth[table]))
    })
  }

  it('the seeds above leave posts with every gate flag and violation set, and notifications of every reason', () => {
    expect([...flagsSeen].sort()).toEqual([...FLAGS].sort())
    expect([...reasonsSeen].sort()).toEqual([...NOTIFICATION_REASONS].sort())
  })
})
