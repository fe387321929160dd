import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Registry } from '@firehose/service'
import { createTestDb, type TestDb } from '../test/db.js'
import { createdAt, did, rawCidFor, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { createIndexerMetrics } from '../metrics.js'
import { indexBatch } from './index-batch.js'
import { pgSafeString, pgSafeValue } from './pg-text.js'

let t: TestDb
let rev = 7000
const next = () => tid(rev++)
const q = async (text: string, params: unknown[] = []) => (await t.database.pool.query(text, params)).rows

beforeAll(async () => {
  t = await createTestDb({ poolMax: 4 })
})
afterAll(async () => {
  await t?.drop()
})

describe('text Postgres cannot store (U+0000, lone surrogates)', () => {
  it('pgSafeValue replaces it by U+FFFD in every string and key, and copies only what changed', () => {
    expect(pgSafeString('a\u0000b')).toBe('a\ufffdb')
    expect(pgSafeString('x\ud800y\udc00z')).toBe('x\ufffdy\ufffdz')
    expect(pgSafeString('ok \ud83d\ude00')).toBe('ok \ud83d\ude00') // a pair is a character
    const clean = { a: ['x', { b: 'y' }], n: 1, z: null }
    expect(pgSafeValue(clean)).toBe(clean)
    const dirty = { a: ['x', { 'b\u0000': 'y' }], c: 'ok', d: 'q\ud800' }
    expect(pgSafeValue(dirty)).toEqual({ a: ['x', { 'b\ufffd': 'y' }], c: 'ok', d: 'q\ufffd' })
    expect(dirty.a[1]).toEqual({ 'b\u0000': 'y' }) // the input is left as it was
  })

  it('indexes every entry of a batch holding it: text columns, jsonb, record.json alike; counts and logs it', async () => {
    const registry = new Registry()
    const metrics = createIndexerMetrics(registry)
    const warnings: unknown[] = []
    const logger = { warn: (o: unknown) => warnings.push(o) } as unknown as import('@firehose/service').Logger
    const a = did(700)
    const nulPost = writeEvent(a, 'app.bsky.feed.post', 'nul', next(), {
      text: 'bad\u0000byte',
      createdAt,
      tags: ['t\u0000g'],
      facets: [
        { index: { byteStart: 0, byteEnd: 3 }, features: [{ $type: 'app.bsky.richtext.facet#link', uri: 'https://x.test/\u0000' }] },
      ],
      embed: {
        $type: 'app.bsky.embed.external',
        external: { uri: 'https://x.test/', title: 'ti\u0000tle', description: 'de\ud800sc' },
      },
    })
    const lonePost = writeEvent(a, 'app.bsky.feed.post', 'lone', next(), { text: 'half \udc00 a pair', createdAt, tags: ['\ud83d'] })
    const profile = writeEvent(a, 'app.bsky.actor.profile', 'self', next(), { displayName: 'Al\u0000ice', description: 'd' })
    const good = writeEvent(a, 'app.bsky.feed.post', 'good', next(), { text: 'fine', createdAt })
    const like = writeEvent(did(701), 'app.bsky.feed.like', 'l1', next(), {
      subject: strongRef(uriOf(a, 'app.bsky.feed.post', 'nul')),
      createdAt,
    })
    // identifiers Postgres cannot store: the event itself is refused (not repaired into another uri)
    const badKey = writeEvent(a, 'app.bsky.feed.post', 'k\u0000y', next(), { text: 'x', createdAt })
    const res = await indexBatch(t.database, [nulPost, lonePost, profile, good, like, badKey], { metrics, logger })
    expect(res.isolated).toBe(false)
    expect(res.failed).toEqual([])
    expect(res.outcomes.map((o) => o.status)).toEqual(['applied', 'applied', 'applied', 'applied', 'applied', 'invalid'])

    const post = (rkey: string) => q(`SELECT text, tags FROM post WHERE uri = $1`, [uriOf(a, 'app.bsky.feed.post', rkey)])
    expect(await post('nul')).toEqual([{ text: 'bad\ufffdbyte', tags: ['t\ufffdg'] }])
    expect(await post('lone')).toEqual([{ text: 'half \ufffd a pair', tags: ['\ufffd'] }])
    expect(await post('good')).toEqual([{ text: 'fine', tags: null }])
    expect(await q(`SELECT title, description FROM post_embed_external`)).toEqual([{ title: 'ti\ufffdtle', description: 'de\ufffdsc' }])
    expect(await q(`SELECT "displayName" FROM profile WHERE creator = $1`, [a])).toEqual([{ displayName: 'Al\ufffdice' }])
    // record.json holds the same text as the columns
    const [stored] = await q(`SELECT json FROM record WHERE uri = $1`, [uriOf(a, 'app.bsky.feed.post', 'nul')])
    const json = JSON.parse(stored.json as string)
    expect(json.text).toBe('bad\ufffdbyte')
    expect(json.facets[0].features[0].uri).toBe('https://x.test/\ufffd')
    expect(await q(`SELECT "likeCount"::int FROM post_agg WHERE uri = $1`, [uriOf(a, 'app.bsky.feed.post', 'nul')])).toEqual([
      { likeCount: 1 },
    ])
    expect(await q(`SELECT count(*)::int AS n FROM record WHERE uri LIKE '%k%y'`)).toEqual([{ n: 0 }])

    const text = await registry.metrics()
    expect(text).toMatch(/indexer_unstorable_text_total\{action="replaced",reason="nul"\} 2/)
    expect(text).toMatch(/indexer_unstorable_text_total\{action="replaced",reason="lone-surrogate"\} 2/)
    expect(text).toMatch(/indexer_unstorable_text_total\{action="refused",reason="identifier"\} 1/)
    expect(text).not.toMatch(/indexer_batch_isolations_total [1-9]/)
    expect(warnings).toHaveLength(1)
    expect(JSON.stringify(warnings[0])).toContain('"count":4')
  })

  it("a replay of the same record is unchanged (the cid is the record's, not the repaired text's)", async () => {
    const a = did(702)
    const ev = writeEvent(a, 'app.bsky.feed.post', 'r', next(), {
      text: 'a\u0000b',
      createdAt,
      embed: {
        $type: 'app.bsky.embed.images',
        images: [{ alt: 'x\u0000', image: { $type: 'blob', ref: { $link: rawCidFor('img') }, mimeType: 'image/png', size: 1 } }],
      },
    })
    expect((await indexBatch(t.database, [ev])).outcomes[0]?.status).toBe('applied')
    expect((await indexBatch(t.database, [ev])).outcomes[0]?.status).toBe('unchanged')
    expect(await q(`SELECT alt FROM post_embed_image WHERE "postUri" = $1`, [uriOf(a, 'app.bsky.feed.post', 'r')])).toEqual([
      { alt: 'x\ufffd' },
    ])
  })
})
