/**
 * Acked means durable: Postgres is killed (`pg_ctl stop -m immediate`, as a crash or an OOM
 * kill) while the indexer is acking, with the production durability settings (fsync,
 * synchronous_commit on: scripts/services.sh SERVICES_PG_DURABLE=1, as deploy/docker-compose.yml
 * runs it). After crash recovery every entry the group had acked has its row; then the indexer
 * goes on and every entry has its row (nothing dead-lettered). Own Redis, Postgres and pgbouncer:
 * the shared ones other suites use are not crashed.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '@firehose/service'
import { encodeEvent } from '@firehose/streams'
import { startPrivateServices, type PrivateServices } from '@firehose/testkit/services'
import { waitFor } from '@firehose/testkit/wait'
import { loadConfig } from './config.js'
import { startIndexer, type RunningIndexer } from './indexer.js'
import { createdAt, did, tid, uriOf, writeEvent } from './test/events.js'

const GROUP = 'indexer_group'
const TOTAL = 4000

describe('indexer: a Postgres crash loses no acked write (durable settings)', () => {
  let services: PrivateServices
  let redis: Redis
  let indexer: RunningIndexer | undefined
  const stream = `crash_${randomBytes(4).toString('hex')}`

  beforeAll(async () => {
    services = await startPrivateServices('pg-crash', { durablePostgres: true })
    redis = new Redis(services.redisUrl)
  })
  afterAll(async () => {
    await indexer?.close()
    await redis?.del(stream, `${stream}_dlq`)
    await redis?.quit()
    await services?.remove()
  })

  /** A query straight to Postgres (not through pgbouncer). */
  async function query<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
    const c = new pg.Client({ connectionString: services.databaseDirectUrl })
    await c.connect()
    try {
      return (await c.query<T>(text, values)).rows
    } finally {
      await c.end()
    }
  }

  /** Entries the group has acked: delivered (at or below last-delivered-id) and not pending. */
  async function ackedIds(): Promise<Set<string>> {
    const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][]
    const info = groups.map((g) => Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]])))
    const last = String(info.find((g) => g.name === GROUP)?.['last-delivered-id'])
    const pending = new Set(((await redis.xpending(stream, GROUP, '-', '+', TOTAL * 2)) as [string][]).map(([id]) => id))
    const delivered = (await redis.xrange(stream, '-', last)) as [string, string[]][]
    return new Set(delivered.map(([id]) => id).filter((id) => !pending.has(id)))
  }

  it('every acked entry is in the tables after crash recovery', async () => {
    const settings = await query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes') ORDER BY name`,
    )
    expect(settings).toEqual([
      { name: 'fsync', setting: 'on' },
      { name: 'full_page_writes', setting: 'on' },
      { name: 'synchronous_commit', setting: 'on' },
    ])
    indexer = await startIndexer(
      loadConfig({
        REDIS_URL: services.redisUrl,
        DATABASE_URL: services.databaseUrl,
        INDEXER_CONSUMER: 'crash-1',
        INDEXER_STREAMS: stream,
        INDEXER_LABEL_STREAM: `${stream}_labels`,
        INDEXER_READ_BATCH: '20',
        INDEXER_CONCURRENCY_PER_SHARD: '4',
        // entries stay in the stream after their ack, so the acked set can be read back
        INDEXER_TRIM_INTERVAL_MS: '0',
        ENABLE_DID_RESOLUTION: 'false',
        METRICS_PORT: '0',
      }),
      createLogger('crash-test', 'error'),
    )
    // posts arrive while the indexer acks: 20 every 10 ms
    const uriOfEntry = new Map<string, string>()
    let written = 0
    const writer = (async () => {
      while (written < TOTAL) {
        const p = redis.pipeline()
        const uris: string[] = []
        for (let k = 0; k < 20 && written < TOTAL; k++, written++) {
          const d = did(5000 + (written % 40))
          const rkey = tid(written + 1)
          p.xadd(stream, '*', 'event', encodeEvent(writeEvent(d, 'app.bsky.feed.post', rkey, rkey, { text: `post ${written}`, createdAt })))
          uris.push(uriOf(d, 'app.bsky.feed.post', rkey))
        }
        const res = (await p.exec()) ?? []
        res.forEach(([err, id], k) => {
          if (err) throw err
          uriOfEntry.set(String(id), uris[k] as string)
        })
        await new Promise((r) => setTimeout(r, 10))
      }
    })()
    await waitFor(async () => (await ackedIds()).size >= 400, 120_000, 'the indexer to ack 400 entries')
    await services.crash('postgres')
    // acks of transactions committed before the kill may still be on their way: let them land
    await new Promise((r) => setTimeout(r, 2000))
    const acked = await ackedIds()
    expect(acked.size).toBeGreaterThanOrEqual(400)
    await services.start()

    const stored = new Set((await query<{ uri: string }>('SELECT uri FROM post')).map((r) => r.uri))
    const lost = [...acked].filter((id) => !stored.has(uriOfEntry.get(id) as string))
    expect(lost, `acked entries whose post is missing after the crash (of ${acked.size} acked)`).toEqual([])

    // and the indexer goes on: every entry ends up indexed, nothing dead-lettered
    await writer
    await waitFor(async () => Number((await query<{ n: string }>('SELECT count(*) n FROM post'))[0]?.n) === TOTAL, 120_000, 'every post')
    expect(await redis.xlen(`${stream}_dlq`)).toBe(0)
  }, 300_000)
})
