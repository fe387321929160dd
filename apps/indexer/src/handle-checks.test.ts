import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Registry, type Logger } from '@firehose/service'
import type { IdentityEvent } from '@firehose/streams'
import { startIdentityHost, type IdentityHost } from '@firehose/testkit/identity-host'
import { startTcpProxy } from '@firehose/testkit/tcp-proxy'
import { waitFor } from '@firehose/testkit/wait'
import { createDb } from './db/database.js'
import { createTestDb, type TestDb } from './test/db.js'
import { createdAt, did, tid, writeEvent } from './test/events.js'
import { HandleChecker } from './handle-checks.js'
import { resolvingHandleVerifier } from './handle-verifier.js'
import { createIdentityMetrics, type IdentityMetrics } from './identity-metrics.js'
import { indexBatch } from './writer/index-batch.js'

let t: TestDb
let host: IdentityHost
let seq = 1
const logger = { warn: () => undefined, info: () => undefined } as unknown as Logger
const identity = (d: string, handle: string | undefined, time: string): IdentityEvent => ({
  type: 'identity',
  seq: seq++,
  time,
  did: d,
  ...(handle ? { handle } : {}),
})
const handleOf = async (d: string): Promise<string | null | undefined> =>
  (await t.database.pool.query(`SELECT handle FROM actor WHERE did = $1`, [d])).rows[0]?.handle as string | null | undefined
const stateOf = async (d: string) =>
  (
    await t.database.pool.query(
      `SELECT "handleCheckAt" IS NOT NULL AS due, "handleCheckAt" > now() AS later, "handleAttempts" AS attempts FROM indexer_actor_state WHERE did = $1`,
      [d],
    )
  ).rows[0]

beforeAll(async () => {
  ;[t, host] = await Promise.all([createTestDb({ poolMax: 6 }), startIdentityHost()])
})
afterAll(async () => {
  await host?.close()
  await t?.drop()
})

function setUp(timeoutMs = 30_000): {
  metrics: IdentityMetrics
  registry: Registry
  checker: HandleChecker
  verifier: ReturnType<typeof resolvingHandleVerifier>
} {
  const registry = new Registry()
  const metrics = createIdentityMetrics(registry)
  const verifier = resolvingHandleVerifier({ plcUrl: host.url, handleResolverUrl: host.url, timeoutMs, metrics })
  const checker = new HandleChecker({ database: t.database, verifier, logger, metrics, sweepIntervalMs: 0 })
  return { metrics, registry, checker, verifier }
}

describe("handles verified off the batches' path", () => {
  it('a handle host that answers slowly holds neither its batch nor the next; its handle is verified later', async () => {
    const { registry, checker, verifier } = setUp()
    const [slow, fast, other] = [did(900), did(901), did(902)]
    host.setDid(slow, 'slow.test')
    host.setHandle('slow.test', slow)
    host.setDid(fast, 'fast.test')
    host.setHandle('fast.test', fast)
    host.hold('slow.test')
    try {
      // the batch does not look anything up: the post and the identity are written at once
      const first = await indexBatch(
        t.database,
        [
          identity(slow, 'slow.test', '2026-01-01T00:00:00.000Z'),
          writeEvent(other, 'app.bsky.feed.post', 'a', tid(1), { text: 'a', createdAt }),
        ],
        { verifier },
      )
      expect(first.outcomes.map((o) => o.status)).toEqual(['applied', 'applied'])
      expect(host.requests('slow.test')).toBe(0)
      expect(first.handleChecks.map((c) => c.did)).toEqual([slow])
      expect(await handleOf(slow)).toBeNull() // the actor row exists, its handle not yet verified
      checker.enqueue(first.handleChecks)
      await waitFor(() => host.requests('slow.test') > 0, 10_000, 'the slow lookup started')

      // while the slow host holds its answer, the next batch goes through and its handle is verified
      const second = await indexBatch(
        t.database,
        [
          writeEvent(other, 'app.bsky.feed.post', 'b', tid(2), { text: 'b', createdAt }),
          identity(fast, 'fast.test', '2026-01-01T00:00:00.000Z'),
        ],
        { verifier },
      )
      expect(second.outcomes.map((o) => o.status)).toEqual(['applied', 'applied'])
      checker.enqueue(second.handleChecks)
      await waitFor(async () => (await handleOf(fast)) === 'fast.test', 10_000, 'fast handle verified')
      expect(await handleOf(slow)).toBeNull()
      expect((await stateOf(slow))?.due).toBe(true)
    } finally {
      host.release('slow.test')
    }
    await waitFor(async () => (await handleOf(slow)) === 'slow.test', 10_000, 'slow handle verified')
    await checker.idle()
    expect((await stateOf(slow))?.due).toBe(false)
    // the same claim again: answered from the cache, in the batch, no check left
    const again = await indexBatch(t.database, [identity(slow, 'slow.test', '2026-01-01T00:00:01.000Z')], { verifier })
    expect(again.handleChecks).toEqual([])
    expect((await stateOf(slow))?.due).toBe(false)
    const text = await registry.metrics()
    expect(text).toMatch(/indexer_handle_checks_total\{outcome="verified"\} 2/)
    expect(text).toMatch(/indexer_identity_lookups_total\{outcome="ok"\} 2/)
    expect(text).toMatch(/indexer_identity_cache_total\{result="hit"\} 1/)
    await checker.close()
  })

  it('a newer identity event applied meanwhile keeps its handle, whatever order the lookups finish in', async () => {
    const { registry, checker, verifier } = setUp()
    const x = did(910)
    host.setDid(x, 'old.test')
    host.setHandle('old.test', x)
    host.hold('old.test')
    try {
      const older = await indexBatch(t.database, [identity(x, 'old.test', '2026-01-02T00:00:00.000Z')], { verifier })
      checker.enqueue(older.handleChecks)
      await waitFor(() => host.requests('old.test') > 0, 10_000, 'old lookup started')
      host.setDid(x, 'new.test')
      host.setHandle('new.test', x)
      const newer = await indexBatch(t.database, [identity(x, 'new.test', '2026-01-02T00:00:05.000Z')], { verifier })
      checker.enqueue(newer.handleChecks)
      await waitFor(async () => (await handleOf(x)) === 'new.test', 10_000, 'new handle')
    } finally {
      host.release('old.test')
    }
    await checker.idle()
    expect(await handleOf(x)).toBe('new.test')
    expect(await registry.metrics()).toMatch(/indexer_handle_checks_total\{outcome="superseded"\} 1/)
    await checker.close()
  })

  it('a lookup past its deadline is a timeout, retried later; a sweep (another process, after a restart) finishes it', async () => {
    const { registry, checker, verifier } = setUp(300)
    const y = did(920)
    host.setDid(y, 'late.test')
    host.setHandle('late.test', y)
    host.hold('late.test')
    try {
      const res = await indexBatch(t.database, [identity(y, 'late.test', '2026-01-03T00:00:00.000Z')], { verifier })
      checker.enqueue(res.handleChecks)
      await checker.idle()
      expect(await registry.metrics()).toMatch(/indexer_identity_lookups_total\{outcome="timeout"\} 1/)
      expect(await registry.metrics()).toMatch(/indexer_handle_checks_total\{outcome="retry"\} 1/)
      expect(await stateOf(y)).toEqual({ due: true, later: true, attempts: 1 })
      expect(await handleOf(y)).toBeNull()
    } finally {
      host.release('late.test')
    }
    await checker.close()
    // the retry falls due; a new checker (another process) claims it in a sweep
    await t.database.pool.query(`UPDATE indexer_actor_state SET "handleCheckAt" = now() - interval '1 second' WHERE did = $1`, [y])
    const later = setUp()
    expect(await later.checker.sweep()).toBe(1)
    await later.checker.idle()
    expect(await handleOf(y)).toBe('late.test')
    expect(await stateOf(y)).toEqual({ due: false, later: null, attempts: null })
    expect(await later.checker.sweep()).toBe(0)
    await later.checker.close()
  })

  it('a result that cannot be written (Postgres restarting) is written once Postgres is back, not left for the lease', async () => {
    const { registry, metrics, verifier } = setUp()
    const z = did(930)
    host.setDid(z, 'back.test')
    host.setHandle('back.test', z)
    // the checker reaches Postgres through a proxy that drops and refuses connections, as a
    // Postgres (or pgbouncer) restart looks to the process
    const url = new URL(t.url)
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) })
    url.host = `${proxy.host}:${proxy.port}`
    const viaProxy = createDb(url.toString(), 2, { connectionTimeoutMillis: 2000 })
    const checker = new HandleChecker({ database: viaProxy, verifier, logger, metrics, sweepIntervalMs: 0 })
    try {
      const res = await indexBatch(t.database, [identity(z, 'back.test', '2026-01-04T00:00:00.000Z')], { verifier })
      proxy.refuse()
      checker.enqueue(res.handleChecks)
      await waitFor(
        async () => /indexer_handle_checks_total\{outcome="unwritten"\} [1-9]/.test(await registry.metrics()),
        10_000,
        'a failed write',
      )
      expect(await handleOf(z)).toBeNull()
      proxy.resume()
      // no sweep runs here (sweepIntervalMs 0) and the lease is a minute away: the checker itself
      // writes the result once Postgres answers again
      await waitFor(async () => (await handleOf(z)) === 'back.test', 20_000, 'handle written after the restart')
      expect((await stateOf(z))?.due).toBe(false)
    } finally {
      await checker.close()
      await viaProxy.close()
      await proxy.close()
    }
  })

  it('a check that runs once the account is deactivated (its PDS no longer resolves the handle) keeps the stored handle', async () => {
    const { checker, verifier } = setUp()
    const d = did(950)
    host.setDid(d, 'paused.test')
    host.setHandle('paused.test', d)
    const index = async (events: Parameters<typeof indexBatch>[1]) => {
      const res = await indexBatch(t.database, events, { verifier })
      expect(res.failed).toEqual([])
      return res
    }
    checker.enqueue((await index([identity(d, 'paused.test', '2026-03-01T00:00:00.000Z')])).handleChecks)
    await checker.idle()
    expect(await handleOf(d)).toBe('paused.test')
    // a later check of the same DID (a backfill's identity, a redelivery, a sweep after a crash)
    // that only runs after the account was deactivated: the PDS answers 404 for its handle
    const late = (await index([identity(d, undefined, '2026-03-01T00:00:01.000Z')])).handleChecks
    await index([{ type: 'account', seq: seq++, time: '2026-03-01T00:00:02.000Z', did: d, active: false, status: 'deactivated' }])
    host.setHandle('paused.test', undefined)
    checker.enqueue(late)
    await checker.idle()
    expect(await handleOf(d)).toBe('paused.test')
    // an active account whose handle no longer resolves loses it (as bsky's indexer does)
    await index([{ type: 'account', seq: seq++, time: '2026-03-01T00:00:03.000Z', did: d, active: true }])
    checker.enqueue((await index([identity(d, undefined, '2026-03-01T00:00:04.000Z')])).handleChecks)
    await checker.idle()
    expect(await handleOf(d)).toBeNull()
  })
})
