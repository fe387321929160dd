// `pnpm bench indexer`: a firehose-like mix of record events (events.mjs) is pre-filled into a
// fresh stream and drained by the real indexer (`node apps/indexer/dist/main.js`, a child
// process) into a fresh database through pgbouncer, until its consumer group has no lag and
// nothing pending. Baseline in the same run: @atproto/bsky's own IndexingService (what the
// earlier TypeScript indexer ran per event) indexing a subset of the same kind of events into
// its own migrated database. Last line: {"bench":"indexer","unit":"records/s",...}.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { availableParallelism, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import pg from 'pg'
import { report } from '../lib/report.mjs'
import { eventMix } from './events.mjs'
import { cpuSeconds, serviceCpuMeter } from '../lib/service-cpu.mjs'
import { ensureServices } from '../../scripts/services-env.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const N = Number(process.env.BENCH_EVENTS ?? 200_000)
const BASELINE_N = Number(process.env.BENCH_BASELINE_EVENTS ?? 4000)
const BASELINE_CONCURRENCY = Number(process.env.BENCH_BASELINE_CONCURRENCY ?? 10)
const CONCURRENCY = process.env.INDEXER_CONCURRENCY ?? '100'
const BATCH = process.env.INDEXER_BATCH_SIZE ?? '500'
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 20_000)
// The indexer runs with the V8 flags its deployment gives it: NODE_OPTIONS of
// deploy/env/indexer.env (a heap cap below the container's mem_limit, and the young generation
// size, which decides how much of the indexer's CPU goes to GC; see apps/indexer/DATABASE.md).
// BENCH_HEAP_MB replaces the heap cap (0: none), BENCH_NODE_OPTIONS adds flags.
const DEPLOY_NODE_OPTIONS = (/^NODE_OPTIONS=(.*)$/m.exec(readFileSync(join(root, 'deploy/env/indexer.env'), 'utf8'))?.[1] ?? '').trim()
const HEAP_MB = process.env.BENCH_HEAP_MB
const NODE_FLAGS = [
  ...DEPLOY_NODE_OPTIONS.split(/\s+/).filter((f) => f && !(HEAP_MB !== undefined && f.startsWith('--max-old-space-size='))),
  HEAP_MB !== undefined && HEAP_MB !== '0' ? `--max-old-space-size=${HEAP_MB}` : '',
  process.env.BENCH_NODE_OPTIONS ?? '',
].filter(Boolean).join(' ')
// Another build of the indexer to measure instead (an A/B of two commits in one session):
// BENCH_INDEXER_MAIN=/path/to/dist/main.js (its migrations run on the bench's fresh database).
const INDEXER_MAIN = process.env.BENCH_INDEXER_MAIN ?? join(root, 'apps/indexer/dist/main.js')

ensureServices(['REDIS_URL', 'DATABASE_URL', 'DATABASE_DIRECT_URL'])
const tag = randomBytes(4).toString('hex')
const withDb = (url, name) => {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}
async function admin(text) {
  const c = new pg.Client({ connectionString: process.env.DATABASE_DIRECT_URL })
  await c.connect()
  try {
    return await c.query(text)
  } finally {
    await c.end()
  }
}
const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const procStatus = (pid) => {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0)
    return { hwmMb: Math.round(kb('VmHWM') / 1024), rssMb: Math.round(kb('VmRSS') / 1024) }
  } catch {
    return { hwmMb: 0, rssMb: 0 }
  }
}

/** Ours: the real indexer process drains a pre-filled stream. */
async function runIndexer(events) {
  const dbName = `bench_idx_${tag}`
  const stream = `bench_firehose_${tag}`
  const group = 'indexer_group'
  await admin(`CREATE DATABASE ${dbName}`)
  const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null })
  let child
  try {
    for (let i = 0; i < events.length; i += 1000) {
      const p = redis.pipeline()
      for (const e of events.slice(i, i + 1000)) p.xadd(stream, '*', 'event', JSON.stringify(e))
      await p.exec()
    }
    const port = await freePort()
    child = spawn(process.execPath, [INDEXER_MAIN], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        PATH: process.env.PATH,
        REDIS_URL: process.env.REDIS_URL,
        DATABASE_URL: withDb(process.env.DATABASE_URL, dbName),
        INDEXER_CONSUMER: `bench-${tag}`,
        INDEXER_STREAMS: stream,
        INDEXER_LABEL_STREAM: '',
        INDEXER_CONCURRENCY: CONCURRENCY,
        INDEXER_BATCH_SIZE: BATCH,
        ENABLE_DID_RESOLUTION: 'false',
        METRICS_PORT: String(port),
        LOG_LEVEL: 'warn',
        ...(process.env.DB_POOL_MAX_SIZE ? { DB_POOL_MAX_SIZE: process.env.DB_POOL_MAX_SIZE } : {}),
        NODE_OPTIONS: NODE_FLAGS,
      },
    })
    const exited = new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`indexer exited with ${code}`))))
    exited.catch(() => {})
    // The clock starts when the worker has created its group (migrations done), and stops when
    // every entry is delivered and acked.
    const groupInfo = async () => {
      const groups = await redis.xinfo('GROUPS', stream)
      for (const g of groups) {
        const o = {}
        for (let i = 0; i < g.length; i += 2) o[g[i]] = g[i + 1]
        if (o.name === group) return o
      }
      return undefined
    }
    let t0
    let cpu0
    let meter
    for (;;) {
      await Promise.race([sleep(10), exited])
      if (await groupInfo()) {
        t0 = performance.now()
        cpu0 = cpuSeconds(child.pid)
        meter = serviceCpuMeter()
        break
      }
    }
    let last = performance.now()
    let sampled = last
    for (;;) {
      await Promise.race([sleep(25), exited])
      if (performance.now() - sampled > 250) {
        sampled = performance.now()
        meter.sample()
      }
      const g = await groupInfo()
      if (g && Number(g.lag) === 0 && Number(g.pending) === 0) break
      if (performance.now() - last > 10_000) {
        last = performance.now()
        console.log(`  … lag ${g?.lag}, pending ${g?.pending}, ${((last - t0) / 1000).toFixed(0)} s`)
      }
    }
    const ms = performance.now() - t0
    const cpu = cpuSeconds(child.pid) - cpu0
    const services = meter.total()
    const { hwmMb } = procStatus(child.pid)
    const dlq = await redis.xlen(`${stream}_dlq`)
    const db = new pg.Client({ connectionString: withDb(process.env.DATABASE_DIRECT_URL, dbName) })
    await db.connect()
    const counts = {}
    for (const t of ['record', 'post', 'like', 'follow', 'repost', 'actor_block', 'profile', 'record_tombstone', 'post_agg', 'profile_agg']) {
      counts[t] = Number((await db.query(`SELECT count(*) AS n FROM "${t}"`)).rows[0].n)
    }
    await db.end()
    return { ms, cpu, services, hwmMb, dlq, counts }
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    }
    await redis.del(stream, `${stream}_dlq`)
    await redis.quit()
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
  }
}

/** Baseline: bsky's IndexingService, `BASELINE_CONCURRENCY` events at a time, per event. */
async function runBaseline(events) {
  const dbName = `bench_bsky_${tag}`
  await admin(`CREATE DATABASE ${dbName}`)
  const require = createRequire(join(here, 'index.mjs'))
  const main = require.resolve('@atproto/bsky')
  const { Database, BackgroundQueue } = await import(pathToFileURL(main).href)
  const { AtUri } = await import(pathToFileURL(require.resolve('@atproto/syntax', { paths: [dirname(main)] })).href)
  const { IndexingService } = await import(pathToFileURL(join(dirname(main), 'data-plane/server/indexing/index.js')).href)
  // bsky's indexer is given records decoded from CBOR (lex form: BlobRef, CID objects)
  const { jsonToLex } = await import(pathToFileURL(require.resolve('@atproto/lex', { paths: [dirname(main)] })).href)
  const bsky = new Database({ url: withDb(process.env.DATABASE_DIRECT_URL, dbName), poolSize: BASELINE_CONCURRENCY + 2 })
  try {
    await bsky.migrateToLatestOrThrow()
    const background = new BackgroundQueue(bsky)
    const indexing = new IndexingService(bsky, {}, background)
    const t0 = performance.now()
    let next = 0
    let failed = 0
    await Promise.all(
      Array.from({ length: BASELINE_CONCURRENCY }, async () => {
        while (next < events.length) {
          const e = events[next++]
          const uri = new AtUri(`at://${e.did}/${e.collection}/${e.rkey}`)
          try {
            if (e.type === 'delete') await indexing.deleteRecord(uri)
            else await indexing.indexRecord(uri, { toString: () => e.cid }, jsonToLex(e.record), e.type, e.time)
          } catch (err) {
            if (failed++ === 0) console.log(`  baseline: first failure: ${err.message}`)
          }
        }
      }),
    )
    await background.processAll()
    return { ms: performance.now() - t0, failed }
  } finally {
    await bsky.close()
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
  }
}

const rateOf = (n, ms) => Math.round((n * 1000) / ms)
const events = eventMix(N, { accounts: ACCOUNTS, tag })
const baseEvents = eventMix(BASELINE_N, { accounts: ACCOUNTS, seed: 11, tag: `${tag}b` })
const mix = {}
for (const e of events) {
  const k = e.type === 'delete' ? 'delete' : e.collection.split('.').pop()
  mix[k] = (mix[k] ?? 0) + 1
}
console.log(`indexer bench: ${events.length} events (${Object.entries(mix).map(([k, v]) => `${k} ${Math.round((v * 100) / events.length)}%`).join(', ')}) from ${ACCOUNTS} accounts`)
console.log(`indexer: INDEXER_CONCURRENCY=${CONCURRENCY} INDEXER_BATCH_SIZE=${BATCH}, NODE_OPTIONS="${NODE_FLAGS}", through pgbouncer (transaction mode)`)

const ours = await runIndexer(events)
const oursRate = rateOf(events.length, ours.ms)
console.log(`ours   (apps/indexer, child process): ${events.length} events in ${(ours.ms / 1000).toFixed(2)} s = ${oursRate} records/s; ${ours.cpu.toFixed(1)} s CPU in the indexer = ${rateOf(events.length, ours.cpu * 1000)} records per indexer CPU-second; peak RSS ${ours.hwmMb} MB; dead-lettered ${ours.dlq}`)
{
  // Where the CPU of the drain went, per record: the indexer, and the services on the same cores.
  // Their sum bounds what these cores can do at this cost per record, however the work overlaps.
  const us = (seconds) => (seconds * 1e6) / events.length
  const { postgres, pgbouncer, 'redis-server': redisCpu, machineBusy, machineIdle } = ours.services
  const sum = us(ours.cpu) + us(postgres) + us(pgbouncer) + us(redisCpu)
  console.log(
    `         CPU per record: indexer ${us(ours.cpu).toFixed(0)} µs, Postgres ${us(postgres).toFixed(0)} µs, pgbouncer ${us(pgbouncer).toFixed(0)} µs, Redis ${us(redisCpu).toFixed(0)} µs` +
      ` = ${sum.toFixed(0)} µs: at most ${rateOf(availableParallelism() * 1e6, sum * 1000)} records/s on ${availableParallelism()} cores at this cost; machine ${Math.round((100 * machineBusy) / (machineBusy + machineIdle))}% busy during the drain`,
  )
}
console.log(`         rows: ${Object.entries(ours.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`)
const base = await runBaseline(baseEvents)
const baseRate = rateOf(baseEvents.length, base.ms)
console.log(`baseline (@atproto/bsky IndexingService, ${BASELINE_CONCURRENCY} at a time): ${baseEvents.length} events in ${(base.ms / 1000).toFixed(2)} s = ${baseRate} records/s${base.failed ? ` (${base.failed} failed)` : ''}`)
console.log(`ratio: ${(oursRate / baseRate).toFixed(1)}×   (goal: ≥ 20000 records/s, peak RSS < 400 MB at concurrency 100)`)
console.log(`load average: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores (Redis, Postgres, pgbouncer and other jobs share them)`)
if (ours.dlq > 0) {
  console.error(`${ours.dlq} entries were dead-lettered`)
  process.exitCode = 1
}
report({ bench: 'indexer', unit: 'records/s', value: oursRate, baseline: baseRate, peakRssMb: ours.hwmMb })
