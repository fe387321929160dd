import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '@firehose/service'
import { encodeEvent } from '@firehose/streams'
import { startIdentityHost, type IdentityHost } from '@firehose/testkit/identity-host'
import { waitFor } from '@firehose/testkit/wait'
import { loadConfig } from './config.js'
import { startIndexer, type RunningIndexer } from './indexer.js'
import { createTestDb, type TestDb } from './test/db.js'
import { createdAt, did, tid, writeEvent } from './test/events.js'

/** The indexer process, fed by a stream, with handle verification on, against a slow identity host. */
describe('indexer: a slow identity host costs one handle, not the stream', () => {
  let db: TestDb
  let host: IdentityHost
  let indexer: RunningIndexer
  const redis = new Redis(process.env.REDIS_URL as string)
  const live = `fl_${randomBytes(4).toString('hex')}`
  const count = async (sql: string) => Number((await db.database.pool.query(sql)).rows[0]?.n ?? -1)
  const handleOf = async (d: string) =>
    (await db.database.pool.query(`SELECT handle FROM actor WHERE did = $1`, [d])).rows[0]?.handle as string | null | undefined

  beforeAll(async () => {
    ;[db, host] = await Promise.all([createTestDb({ migrated: false }), startIdentityHost()])
    const config = loadConfig({
      REDIS_URL: process.env.REDIS_URL,
      DATABASE_URL: db.url,
      INDEXER_CONSUMER: 'test-identity',
      INDEXER_STREAMS: live,
      INDEXER_LABEL_STREAM: '',
      INDEXER_READ_BATCH: '50',
      INDEXER_CONCURRENCY_PER_SHARD: '1', // one batch at a time: a batch waiting on a lookup would hold the stream
      ENABLE_DID_RESOLUTION: 'true',
      PLC_URL: host.url,
      HANDLE_RESOLVER_URL: host.url,
      // the identity host listens on 127.0.0.1: exactly that, nothing wider
      ALLOW_PRIVATE_NETWORKS: '127.0.0.1/32',
      INDEXER_IDENTITY_TIMEOUT_MS: '60000',
      METRICS_PORT: '0',
    })
    indexer = await startIndexer(config, createLogger('indexer-identity-test', 'warn'))
  })
  afterAll(async () => {
    await indexer?.close()
    await host?.close()
    await db?.drop()
    await redis.del(live, `${live}_dlq`)
    await redis.quit()
  })

  it('events in the same and the next batches are indexed while a handle host holds its answer; the handle is verified once it answers', async () => {
    const [slow, slowPlc, fast, poster] = [did(3000), did(3001), did(3002), did(3003)]
    host.setDid(slow, 'slow.test')
    host.setHandle('slow.test', slow)
    host.setDid(slowPlc, 'plc-slow.test')
    host.setHandle('plc-slow.test', slowPlc)
    host.setDid(fast, 'fast.test')
    host.setHandle('fast.test', fast)
    host.hold('slow.test') // a slow handle host
    host.hold(slowPlc) // a slow DID document
    const identity = (d: string, handle: string) =>
      encodeEvent({ type: 'identity', seq: 1, time: '2026-01-01T00:00:00.000Z', did: d, handle })
    try {
      const p = redis.pipeline()
      p.xadd(live, '*', 'event', identity(slow, 'slow.test'))
      p.xadd(live, '*', 'event', identity(slowPlc, 'plc-slow.test'))
      p.xadd(live, '*', 'event', encodeEvent(writeEvent(poster, 'app.bsky.feed.post', 'p1', tid(1), { text: 'same batch', createdAt })))
      await p.exec()
      await waitFor(
        async () => (await count(`select count(*) n from post where creator = '${poster}'`)) === 1,
        20_000,
        'post of the same batch',
      )
      await waitFor(() => host.requests('slow.test') > 0 && host.requests(slowPlc) > 0, 20_000, 'slow lookups started')
      // the next batches: a post and an identity whose host answers at once
      await redis.xadd(
        live,
        '*',
        'event',
        encodeEvent(writeEvent(poster, 'app.bsky.feed.post', 'p2', tid(2), { text: 'next batch', createdAt })),
      )
      await redis.xadd(live, '*', 'event', identity(fast, 'fast.test'))
      await waitFor(
        async () => (await count(`select count(*) n from post where creator = '${poster}'`)) === 2,
        20_000,
        'post of the next batch',
      )
      await waitFor(async () => (await handleOf(fast)) === 'fast.test', 20_000, 'fast handle verified')
      await waitFor(async () => Number(((await redis.xpending(live, 'indexer_group')) as [number])[0]) === 0, 10_000, 'all acked')
      expect(await handleOf(slow)).toBeNull()
      expect(await handleOf(slowPlc)).toBeNull()
    } finally {
      host.release('slow.test')
      host.release(slowPlc)
    }
    await waitFor(
      async () => (await handleOf(slow)) === 'slow.test' && (await handleOf(slowPlc)) === 'plc-slow.test',
      20_000,
      'slow handles verified later',
    )
    const m = await (await fetch(`http://127.0.0.1:${indexer.http.port}/metrics`)).text()
    expect(m).toMatch(/indexer_handle_checks_total\{outcome="verified"\} 3/)
    expect(m).toMatch(/indexer_identity_lookup_duration_seconds_count 3/)
  })
})
