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

/**
 * The indexer's identity lookups (PLC, did:web, handle hosts) go through the outgoing-request
 * policy: a PLC directory on a loopback address outside ALLOW_PRIVATE_NETWORKS is never
 * contacted, the refusal is counted by address class, and the stream goes on.
 */
describe('indexer: identity lookups under the outgoing-request policy', () => {
  let db: TestDb
  let host: IdentityHost
  let indexer: RunningIndexer
  const redis = new Redis(process.env.REDIS_URL as string)
  const live = `fl_${randomBytes(4).toString('hex')}`
  const count = async (sql: string) => Number((await db.database.pool.query(sql)).rows[0]?.n ?? -1)
  const metrics = async () => (await fetch(`http://127.0.0.1:${indexer.http.port}/metrics`)).text()

  beforeAll(async () => {
    ;[db, host] = await Promise.all([createTestDb({ migrated: false }), startIdentityHost()])
    const config = loadConfig({
      REDIS_URL: process.env.REDIS_URL,
      DATABASE_URL: db.url,
      INDEXER_CONSUMER: 'test-peer-policy',
      INDEXER_STREAMS: live,
      INDEXER_LABEL_STREAM: '',
      ENABLE_DID_RESOLUTION: 'true',
      // a "PLC directory" on loopback, and ALLOW_PRIVATE_NETWORKS left empty (the default)
      PLC_URL: host.url,
      INDEXER_IDENTITY_TIMEOUT_MS: '2000',
      METRICS_PORT: '0',
    })
    indexer = await startIndexer(config, createLogger('indexer-peer-policy-test', 'warn'))
  })
  afterAll(async () => {
    await indexer?.close()
    await host?.close()
    await db?.drop()
    await redis.del(live, `${live}_dlq`)
    await redis.quit()
  })

  it('never contacts a loopback PLC outside ALLOW_PRIVATE_NETWORKS, counts the refusal and indexes the rest', async () => {
    const [target, poster] = [did(4000), did(4001)]
    host.setDid(target, 'target.test')
    host.setHandle('target.test', target)
    await redis.xadd(
      live,
      '*',
      'event',
      encodeEvent({ type: 'identity', seq: 1, time: '2026-01-01T00:00:00.000Z', did: target, handle: 'target.test' }),
    )
    await redis.xadd(
      live,
      '*',
      'event',
      encodeEvent(writeEvent(poster, 'app.bsky.feed.post', 'p1', tid(1), { text: 'indexed all the same', createdAt })),
    )
    await waitFor(
      async () => /indexer_peer_requests_refused_total\{reason="loopback"\} [1-9]/.test(await metrics()),
      20_000,
      'loopback refusal counted',
    )
    await waitFor(async () => (await count(`select count(*) n from post where creator = '${poster}'`)) === 1, 20_000, 'post indexed')
    expect(host.requests(target)).toBe(0)
    expect(host.requests('target.test')).toBe(0)
  })
})
