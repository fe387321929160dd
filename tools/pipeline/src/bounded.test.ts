/**
 * Every stream stays bounded under load: a relay replays 10000 frames (identity and account
 * events, and a `#sync` every fourth frame) through the ingester, indexer and backfiller
 * processes. Every event is indexed and every job handled (they all fail: the PLC is
 * unreachable, one attempt each, so they are dead-lettered); the DLQ is held to
 * `DLQ_MAX_LENGTH` and then aged out after `DLQ_RETENTION_SECS`; sampled all along, no stream
 * grows past its bound. Before, `repo_backfill` and the DLQ were never trimmed.
 */
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createTestDatabase, FrameRelay, messageFrame, waitFor } from '@firehose/testkit'
import { AppProcess, freePort, type AppName } from './apps.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const cleanup: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined)
})

const FRAMES = 10_000
const HWM = 1000
const DLQ_MAX = 200
const DLQ_RETENTION_SECS = 3

/** XINFO STREAM entries-added and the group's entries-read / pending: all read and acked? */
async function groupDone(redis: Redis, stream: string, group: string): Promise<{ added: number; read: number; pending: number }> {
  const info = (await redis.xinfo('STREAM', stream).catch(() => null)) as unknown[] | null
  if (!info) return { added: 0, read: 0, pending: 0 }
  const o = Object.fromEntries(Array.from({ length: info.length / 2 }, (_, i) => [info[2 * i], info[2 * i + 1]]))
  const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][]
  for (const g of groups) {
    const go = Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]]))
    if (go.name === group) return { added: Number(o['entries-added']), read: Number(go['entries-read'] ?? 0), pending: Number(go.pending) }
  }
  return { added: Number(o['entries-added']), read: 0, pending: 0 }
}

/** A valid TID (base32-sortable, 13 characters) per seq: the ingester drops #sync frames whose rev is not one. */
const syncRev = (seq: number): string => {
  const S32 = '234567abcdefghijklmnopqrstuvwxyz'
  let out = ''
  for (let n = seq, i = 0; i < 8; i++, n = Math.floor(n / 32)) out = S32[n % 32] + out
  return `3lbre${out}`
}

describe('bounded streams under load', () => {
  it('many thousand events and jobs: all processed, DLQ aged out, every stream under its bound', { timeout: 240_000 }, async () => {
    const time = new Date().toISOString()
    const frames = Array.from({ length: FRAMES }, (_, i) => {
      const seq = i + 1
      const did = `did:plc:bounded${String(i % 3000).padStart(17, '0')}`
      const bytes =
        seq % 4 === 0
          ? messageFrame('#sync', { seq, did, time, rev: syncRev(seq), blocks: new Uint8Array(0) })
          : seq % 4 === 1
            ? messageFrame('#account', { seq, did, time, active: true })
            : messageFrame('#identity', { seq, did, time, handle: `h${i % 3000}.bounded.test` })
      return { seq, bytes }
    })
    const jobs = frames.filter((f) => f.seq % 4 === 0).length
    const events = FRAMES - jobs
    const relay = await FrameRelay.start(frames)
    cleanup.push(() => relay.close())
    const db = await createTestDatabase('bounded')
    cleanup.push(() => db.drop())
    const redisUrl = process.env.REDIS_URL as string
    const redis = new Redis(redisUrl)
    cleanup.push(() => redis.quit())

    const id = randomBytes(4).toString('hex')
    const fl = `firehose_live_${id}`
    const rb = `repo_backfill_${id}`
    const fb = `firehose_backfill_${id}`
    const common = {
      REDIS_URL: redisUrl,
      LOG_LEVEL: 'warn',
      DLQ_RETENTION_SECS: String(DLQ_RETENTION_SECS),
      DLQ_MAX_LENGTH: String(DLQ_MAX),
    }
    const logDir = join(root, '.local', 'logs', `bounded-${id}`)
    const envs: Record<AppName, Record<string, string>> = {
      ingester: {
        INGESTER_RELAY_HOSTS: relay.url,
        INGESTER_FIREHOSE_STREAM: fl,
        INGESTER_REPO_STREAM: rb,
        INGESTER_LABEL_STREAM: `label_live_${id}`,
        INGESTER_HIGH_WATER_MARK: String(HWM),
        INGESTER_WRITE_BATCH: '100',
        INGESTER_BATCH_TIMEOUT_MS: '20',
        // synthetic frames are not signed: this test is about bounds, not sync 1.1 verification
        INGESTER_VERIFY: 'none',
      },
      indexer: {
        DATABASE_URL: db.url,
        INDEXER_CONSUMER: 'indexer-1',
        INDEXER_STREAMS: `${fl},${fb}`,
        INDEXER_LABEL_STREAM: `label_live_${id}`,
        ENABLE_DID_RESOLUTION: 'false',
        INDEXER_TRIM_INTERVAL_MS: '300',
        INDEXER_READ_BATCH: '200',
        INDEXER_CONCURRENCY_PER_SHARD: '4',
        DB_POOL_MAX_SIZE: '8',
      },
      backfiller: {
        BACKFILLER_CONSUMER: 'backfiller-1',
        BACKFILLER_IN_STREAM: rb,
        BACKFILLER_OUT_STREAM: fb,
        PLC_URL: 'http://127.0.0.1:1',
        BACKFILLER_MAX_RETRIES: '0',
        BACKFILLER_REPOS_IN_FLIGHT: '20',
        BACKFILLER_TRIM_INTERVAL_MS: '300',
        BACKFILLER_HTTP_TIMEOUT_SECS: '2',
      },
    }
    const apps: AppProcess[] = []
    for (const name of ['indexer', 'backfiller', 'ingester'] as AppName[]) {
      const port = await freePort()
      const app = new AppProcess(
        name,
        root,
        { ...common, METRICS_PORT: String(port), BACKFILLER_METRICS_PORT: String(port), ...envs[name] },
        port,
        logDir,
      )
      apps.push(app)
      cleanup.push(async () => {
        await app.stop('SIGTERM', 10_000)
        app.close()
      })
      app.start()
      await app.waitReady()
    }

    // sample every stream's length all along
    const bounds: Record<string, number> = { [fl]: 3 * HWM, [rb]: HWM, [`${rb}_dlq`]: DLQ_MAX, [`${fl}_dlq`]: DLQ_MAX }
    const max: Record<string, number> = {}
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        for (const s of Object.keys(bounds)) max[s] = Math.max(max[s] ?? 0, await redis.xlen(s))
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    cleanup.push(async () => {
      sampling = false
      await sampler
    })

    const t0 = Date.now()
    await waitFor(
      async () => {
        const e = await groupDone(redis, fl, 'indexer_group')
        const j = await groupDone(redis, rb, 'repo_backfill_group')
        return e.added === events && e.read === events && e.pending === 0 && j.added === jobs && j.read === jobs && j.pending === 0
      },
      150_000,
      'every event indexed and every job handled',
    )
    const processedMs = Date.now() - t0
    // every job was dead-lettered once; the DLQ holds at most DLQ_MAX_LENGTH, then ages out
    const metrics = await fetch(`${apps[1]?.url}/metrics`).then((r) => r.text())
    const deadLettered = Number(/^backfiller_repos_dead_lettered_total\{[^}]*\} (\S+)$/m.exec(metrics)?.[1] ?? 0)
    expect(deadLettered).toBe(jobs)
    await waitFor(async () => (await redis.xlen(`${rb}_dlq`)) === 0, (DLQ_RETENTION_SECS + 5) * 1000, 'DLQ aged out')
    // and the streams trimmed down to what is not yet acked
    await waitFor(async () => (await redis.xlen(fl)) === 0 && (await redis.xlen(rb)) === 0, 10_000, 'streams trimmed')
    sampling = false
    await sampler
    for (const [s, bound] of Object.entries(bounds))
      expect(max[s] ?? 0, `${s} reached ${max[s]} (bound ${bound})`).toBeLessThanOrEqual(bound)
    expect(max[`${rb}_dlq`]).toBeGreaterThan(0)
    for (const a of apps) expect(a.running).toBe(true)
    console.log(`bounded: ${events} events and ${jobs} jobs processed in ${processedMs} ms; max lengths ${JSON.stringify(max)}`)
  })
})
