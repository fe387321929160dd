import { describe, expect, it } from 'vitest'
import { cidFor, createdAt, did, strongRef, uriOf, writeEvent, tid } from '../test/events.js'
import { POST, recordsTestSetup } from '../test/records-setup.js'
import { indexBatch } from './index-batch.js'

const t = recordsTestSetup()
const { next, q, one } = t

describe('validation, unknown collections, actors', () => {
  it('skips invalid records, keeps unknown collections in record, moves actor_sync forward only', async () => {
    const a = did(30)
    const bad = writeEvent(a, 'app.bsky.feed.like', 'bad', next(), { subject: 'not a ref', createdAt })
    const unknown = writeEvent(a, 'com.example.thing', 'x1', next(), { anything: [1, 2, { $link: cidFor('z') }] })
    const res = await indexBatch(t.database, [bad, unknown])
    expect(res.outcomes.map((o) => o.status)).toEqual(['invalid', 'applied'])
    expect(res.outcomes[0]?.error?.name).toBe('InvalidRecordError')
    expect(await q(`SELECT uri FROM record WHERE did = $1`, [a])).toEqual([{ uri: uriOf(a, 'com.example.thing', 'x1') }])
    const sync = await one(`SELECT "repoRev", "commitCid" FROM actor_sync WHERE did = $1`, [a])
    expect(sync).toEqual({ repoRev: unknown.rev, commitCid: unknown.commit })
    const older = { type: 'repo' as const, seq: 1, time: createdAt, did: a, commit: cidFor('old'), rev: tid(1) }
    await indexBatch(t.database, [older])
    expect(await one(`SELECT "repoRev" FROM actor_sync WHERE did = $1`, [a])).toEqual({ repoRev: unknown.rev })
    const newer = { ...older, commit: cidFor('new'), rev: next() }
    await indexBatch(t.database, [newer])
    expect(await one(`SELECT "repoRev", "commitCid" FROM actor_sync WHERE did = $1`, [a])).toEqual({
      repoRev: newer.rev,
      commitCid: newer.commit,
    })
  })

  it('identity sets the handle (taking it from a previous holder); account sets upstreamStatus; deleted removes records', async () => {
    const a = did(40)
    const b = did(41)
    const time = '2026-01-02T00:00:00.000Z'
    await indexBatch(t.database, [
      { type: 'identity', seq: 1, time, did: a, handle: 'Alice.test' },
      writeEvent(a, POST, 'p1', next(), { text: 'x', createdAt }),
      writeEvent(b, 'app.bsky.feed.like', 'l1', next(), { subject: strongRef(uriOf(a, POST, 'p1')), createdAt }),
      writeEvent(a, 'app.bsky.feed.like', 'l1', next(), { subject: strongRef(uriOf(b, POST, 'zz')), createdAt }),
    ])
    expect(await one(`SELECT handle FROM actor WHERE did = $1`, [a])).toEqual({ handle: 'alice.test' })
    await indexBatch(t.database, [{ type: 'identity', seq: 2, time, did: b, handle: 'alice.test' }])
    expect(await q(`SELECT did, handle FROM actor WHERE did = ANY($1) ORDER BY did`, [[a, b]])).toEqual([
      { did: a, handle: null },
      { did: b, handle: 'alice.test' },
    ])
    await indexBatch(t.database, [{ type: 'account', seq: 3, time, did: a, active: false, status: 'suspended' }])
    expect(await one(`SELECT "upstreamStatus" FROM actor WHERE did = $1`, [a])).toEqual({ upstreamStatus: 'suspended' })
    await indexBatch(t.database, [{ type: 'account', seq: 4, time, did: a, active: false, status: 'some-new-status' }])
    expect(await one(`SELECT "upstreamStatus" FROM actor WHERE did = $1`, [a])).toEqual({ upstreamStatus: 'some-new-status' })
    await indexBatch(t.database, [{ type: 'account', seq: 5, time, did: a, active: true }])
    expect(await one(`SELECT "upstreamStatus" FROM actor WHERE did = $1`, [a])).toEqual({ upstreamStatus: null })
    expect(await one(`SELECT "likeCount"::int FROM post_agg WHERE uri = $1`, [uriOf(b, POST, 'zz')])).toEqual({ likeCount: 1 })

    await indexBatch(t.database, [{ type: 'account', seq: 6, time, did: a, active: false, status: 'deleted' }])
    expect(await one(`SELECT "upstreamStatus" FROM actor WHERE did = $1`, [a])).toEqual({ upstreamStatus: 'deleted' })
    expect(await q(`SELECT uri FROM record WHERE did = $1`, [a])).toEqual([])
    expect(await q(`SELECT uri FROM post WHERE creator = $1`, [a])).toEqual([])
    expect(await one(`SELECT "likeCount"::int FROM post_agg WHERE uri = $1`, [uriOf(b, POST, 'zz')])).toEqual({ likeCount: 0 })
    expect(await one(`SELECT "postsCount"::int FROM profile_agg WHERE did = $1`, [a])).toEqual({ postsCount: 0 })
    // a late create of the deleted account is not indexed
    const late = await indexBatch(t.database, [writeEvent(a, POST, 'p2', next(), { text: 'late', createdAt })])
    expect(late.outcomes[0]?.status).toBe('stale')
    expect(await q(`SELECT uri FROM record WHERE did = $1`, [a])).toEqual([])
  })
})
