/**
 * Emission respects the output stream's high-water mark: with nobody reading, the backfiller
 * pauses (nothing dropped, nothing trimmed); as a reader drains the stream it resumes and the
 * repo completes with every record.
 */
import { buildSignedRepo } from '@firehose/atproto/testing'
import { decodeEvent } from '@firehose/streams'
import { describe, expect, it } from 'vitest'
import type { Backfiller } from './backfiller.js'
import { useFakeNetworkBackfiller } from './test/fixture.js'
import { enqueue, randomDid, waitFor } from './test/helpers.js'

const RUNBOOK_METRICS = [
  'backfiller_repos_processed_total',
  'backfiller_repos_failed_total',
  'backfiller_repos_dead_lettered_total',
  'backfiller_records_extracted_total',
  'backfiller_retries_attempted_total',
  'backfiller_repos_waiting',
  'backfiller_repos_running',
  'backfiller_output_stream_length',
  'backfiller_car_fetch_errors_total',
  'backfiller_car_parse_errors_total',
  'backfiller_verification_errors_total',
]

describe('high-water mark', () => {
  const fx = useFakeNetworkBackfiller({ highWaterMark: 150, chunkSize: 50 })
  const { redis, config } = fx
  let bf: Backfiller

  it('pauses at the mark and completes as the stream drains', async () => {
    const repo = await buildSignedRepo({ did: randomDid(), count: 600 })
    fx.net.add({ did: repo.did, signingKey: repo.signingKey, car: repo.car })
    bf = await fx.start()
    // the runbook's metric names, all exported from the start
    const text = await (await fetch(`http://127.0.0.1:${bf.port}/metrics`)).text()
    for (const name of RUNBOOK_METRICS) expect(text, name).toMatch(new RegExp(`^${name}(\\{[^}]*\\})? `, 'm'))
    await enqueue(redis, config.inStream, repo.did, fx.net.url)
    await waitFor(async () => (await redis.xlen(config.outStream)) >= 150, 10_000, 'the stream to reach the mark')
    await new Promise((r) => setTimeout(r, 600))
    const len = await redis.xlen(config.outStream)
    expect(len).toBeGreaterThanOrEqual(150)
    expect(len).toBeLessThanOrEqual(150 + 50)

    // a slow reader: take 100 entries at a time
    const seen: string[] = []
    let done = false
    await waitFor(
      async () => {
        const rows = (await redis.xrange(config.outStream, '-', '+', 'COUNT', 100)) as [string, string[]][]
        if (rows.length > 0) await redis.xdel(config.outStream, ...rows.map((r) => r[0]))
        for (const [, f] of rows) {
          const ev = decodeEvent(f[1] ?? '')
          if (ev.type === 'create') seen.push(`${ev.collection}/${ev.rkey}`)
          if (ev.type === 'repo') done = true
        }
        return done
      },
      30_000,
      'the repo to complete',
    )
    expect(new Set(seen).size).toBe(600)
    expect(seen).toHaveLength(600)
  })
})
