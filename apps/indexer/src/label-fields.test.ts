import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Registry, type Logger } from '@firehose/service'
import type { Label } from '@firehose/streams'
import { createIndexerMetrics } from './metrics.js'
import { indexLabels } from './labels.js'
import { isPgDatetime, labelRefusal } from './label-fields.js'
import { createTestDb, type TestDb } from './test/db.js'

let t: TestDb
beforeAll(async () => {
  t = await createTestDb({ poolMax: 2 })
})
afterAll(async () => {
  await t?.drop()
})

/** Whether Postgres itself reads the value as a timestamptz. */
async function pgAccepts(client: pg.Client, value: string): Promise<boolean> {
  try {
    await client.query('SELECT $1::timestamptz', [value])
    return true
  } catch {
    return false
  }
}

describe("label fields checked with Postgres's rules", () => {
  it('isPgDatetime accepts only what Postgres and Date.parse both read (checked against Postgres)', async () => {
    // each of these Date.parse reads (or nearly); Postgres refuses those marked false
    const cases: [string, boolean][] = [
      ['2026-01-01T00:00:00.000Z', true],
      ['2024-02-29T12:00:00Z', true],
      ['2026-01-01T00:00:00+15:59', true],
      ['0001-01-01T00:00:00Z', true],
      ['9999-12-31T23:59:59.999999Z', true],
      ['2026-02-29T00:00:00Z', false], // Date.parse: 1 March
      ['2026-04-31T00:00:00Z', false],
      ['2026-01-01T00:00:00+16:00', false],
      ['0000-01-01T00:00:00Z', false],
      ['2026-13-01T00:00:00Z', false],
      ['Jan 1 2026', false], // Postgres reads it; not a datetime of atproto
      ['1', false],
      ['+275760-09-13T00:00:00.000Z', false],
      ['2026-01-01T00:00:00', false], // no offset: Postgres takes its session zone
      ['2026-01-01T00:00:00Z\u0000', false],
    ]
    const client = new pg.Client({ connectionString: t.directUrl })
    await client.connect()
    try {
      for (const [value, expected] of cases) {
        expect(isPgDatetime(value), value).toBe(expected)
        // what isPgDatetime accepts, Postgres accepts
        if (expected) expect(await pgAccepts(client, value), value).toBe(true)
      }
      expect(await pgAccepts(client, '2026-02-29T00:00:00Z')).toBe(false)
      expect(Number.isNaN(Date.parse('2026-02-29T00:00:00Z'))).toBe(false)
    } finally {
      await client.end()
    }
  })

  it('refuses the bad labels of a batch by reason, with a metric and a log line; the others are stored', async () => {
    const registry = new Registry()
    const metrics = createIndexerMetrics(registry)
    const warnings: unknown[] = []
    const logger = { warn: (o: unknown) => warnings.push(o) } as unknown as Logger
    const src = 'did:plc:labeler'
    const uri = 'at://did:plc:x/app.bsky.feed.post/1'
    const cts = '2026-01-01T00:00:00.000Z'
    const labels: Label[] = [
      { src, uri, val: 'good1', cts },
      { src, uri, val: 'leap', cts: '2026-02-29T00:00:00Z' },
      { src, uri, val: 'zone', cts: '2026-01-01T00:00:00+16:00' },
      { src, uri, val: 'n\u0000ul', cts },
      { src, uri, val: 'exp', cts, exp: '2026-02-30T00:00:00Z' },
      { src, uri: `at://did:plc:x/app.bsky.feed.post/${'a'.repeat(3000)}`, val: 'long', cts },
      { src, uri, cid: 'bafy\ud800', val: 'cid', cts },
      { src, uri, val: 'good2', cts, exp: '2030-01-01T00:00:00Z' },
    ]
    expect(labels.map(labelRefusal)).toEqual([undefined, 'cts', 'cts', 'val', 'exp', 'key-too-long', 'cid', undefined])
    const out = await indexLabels(t.database, labels, metrics, logger)
    expect(out).toEqual(['applied', 'invalid', 'invalid', 'invalid', 'invalid', 'invalid', 'invalid', 'applied'])
    expect((await t.database.pool.query(`SELECT val FROM label ORDER BY val`)).rows).toEqual([{ val: 'good1' }, { val: 'good2' }])
    const text = await registry.metrics()
    expect(text).toMatch(/indexer_labels_refused_total\{reason="cts"\} 2/)
    for (const r of ['val', 'exp', 'key-too-long', 'cid'])
      expect(text).toMatch(new RegExp(`indexer_labels_refused_total\\{reason="${r}"\\} 1`))
    expect(warnings).toHaveLength(1)
  })
})
