// `pnpm bench indexer`: a firehose-like mix of record events (events.mjs) is pre-filled into a
// fresh stream and drained by the real indexer (`node apps/indexer/dist/main.js`, a child
// process) into a fresh database through pgbouncer, until its consumer group has no lag and
// nothing pending. Baseline in the same run: @atproto/bsky's own IndexingService (what the
// earlier TypeScript indexer ran per event) indexing a subset of the same kind of events into
// its own migrated database. Last line: {"bench":"indexer","unit":"records/s",...}.
import { createRequire } from 'node:module'
import { availableParallelism, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { report } from '../lib/report.mjs'
import { eventMix } from './events.mjs'
import { admin, drainWithIndexer, indexerNodeFlags, withDb } from '../lib/indexer-drain.mjs'
import { serviceCpuMeter } from '../lib/service-cpu.mjs'
import { ensureServices } from '../../scripts/services-env.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const N = Number(process.env.BENCH_EVENTS ?? 200_000)
const BASELINE_N = Number(process.env.BENCH_BASELINE_EVENTS ?? 4000)
const BASELINE_CONCURRENCY = Number(process.env.BENCH_BASELINE_CONCURRENCY ?? 10)
const CONCURRENCY = process.env.INDEXER_CONCURRENCY_PER_SHARD ?? '100'
const BATCH = process.env.INDEXER_READ_BATCH ?? '500'
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 20_000)
// The indexer runs with the V8 flags its deployment gives it (bench/lib/indexer-drain.mjs).
const NODE_FLAGS = indexerNodeFlags()
// Another build of the indexer to measure instead (an A/B of two commits in one session):
// BENCH_INDEXER_MAIN=/path/to/dist/main.js (its migrations run on the bench's fresh database).
const INDEXER_MAIN = process.env.BENCH_INDEXER_MAIN ?? join(root, 'apps/indexer/dist/main.js')
// The durability cost (docs/operations.md): BENCH_SYNCHRONOUS_COMMIT=on|off sets
// synchronous_commit on the bench's database (ALTER DATABASE), so one server measures both;
// against Postgres with fsync on (SERVICES_PG_DURABLE=1 services, as the compose file runs it).
const SYNCHRONOUS_COMMIT = process.env.BENCH_SYNCHRONOUS_COMMIT
if (SYNCHRONOUS_COMMIT !== undefined && !['on', 'off', 'local', 'remote_write', 'remote_apply'].includes(SYNCHRONOUS_COMMIT)) {
  throw new Error(`BENCH_SYNCHRONOUS_COMMIT must be on, off, local, remote_write or remote_apply (got "${SYNCHRONOUS_COMMIT}")`)
}

ensureServices(['REDIS_URL', 'DATABASE_URL', 'DATABASE_DIRECT_URL'])
const tag = randomBytes(4).toString('hex')

/** Ours: the real indexer process drains a pre-filled stream. */
async function runIndexer(events) {
  const dbName = `bench_idx_${tag}`
  await admin(`CREATE DATABASE ${dbName}`)
  try {
    if (SYNCHRONOUS_COMMIT !== undefined) await admin(`ALTER DATABASE ${dbName} SET synchronous_commit = ${SYNCHRONOUS_COMMIT}`)
    const drained = await drainWithIndexer(events, {
      dbName,
      tag,
      indexerMain: INDEXER_MAIN,
      nodeFlags: NODE_FLAGS,
      concurrency: CONCURRENCY,
      batch: BATCH,
    })
    const db = new pg.Client({ connectionString: withDb(process.env.DATABASE_DIRECT_URL, dbName) })
    await db.connect()
    const counts = {}
    for (const t of [
      'record',
      'post',
      'like',
      'follow',
      'repost',
      'actor_block',
      'profile',
      'record_tombstone',
      'post_agg',
      'profile_agg',
      'notification',
    ]) {
      // (notification: absent from the schema of a BENCH_INDEXER_MAIN older than migration 0007)
      const exists = (await db.query(`SELECT to_regclass($1) IS NOT NULL AS e`, [t])).rows[0].e
      if (exists) counts[t] = Number((await db.query(`SELECT count(*) AS n FROM "${t}"`)).rows[0].n)
    }
    await db.end()
    return { ...drained, counts }
  } finally {
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
    const cpu0 = process.cpuUsage()
    const meter = serviceCpuMeter()
    const sampler = setInterval(() => meter.sample(), 250).unref() // (never what keeps the bench alive if bsky throws)
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
    const ms = performance.now() - t0
    clearInterval(sampler)
    const cpu = process.cpuUsage(cpu0)
    return { ms, failed, cpu: (cpu.user + cpu.system) / 1e6, services: meter.total() }
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
console.log(
  `indexer bench: ${events.length} events (${Object.entries(mix)
    .map(([k, v]) => `${k} ${Math.round((v * 100) / events.length)}%`)
    .join(', ')}) from ${ACCOUNTS} accounts`,
)
console.log(
  `indexer: INDEXER_CONCURRENCY_PER_SHARD=${CONCURRENCY} INDEXER_READ_BATCH=${BATCH}, NODE_OPTIONS="${NODE_FLAGS}", through pgbouncer (transaction mode)`,
)
{
  const setting = async (name) => (await admin(`SHOW ${name}`)).rows[0][name]
  const sc = SYNCHRONOUS_COMMIT ?? (await setting('synchronous_commit'))
  console.log(
    `Postgres: fsync=${await setting('fsync')} full_page_writes=${await setting('full_page_writes')} synchronous_commit=${sc} (the indexer's database)`,
  )
}

const ours = await runIndexer(events)
const oursRate = rateOf(events.length, ours.ms)
console.log(
  `ours   (apps/indexer, child process): ${events.length} events in ${(ours.ms / 1000).toFixed(2)} s = ${oursRate} records/s; ${ours.cpu.toFixed(1)} s CPU in the indexer = ${rateOf(events.length, ours.cpu * 1000)} records per indexer CPU-second; peak RSS ${ours.hwmMb} MB; dead-lettered ${ours.dlq}`,
)
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
console.log(
  `         rows: ${Object.entries(ours.counts)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
)
const base = await runBaseline(baseEvents)
const baseRate = rateOf(baseEvents.length, base.ms)
console.log(
  `baseline (@atproto/bsky IndexingService, ${BASELINE_CONCURRENCY} at a time): ${baseEvents.length} events in ${(base.ms / 1000).toFixed(2)} s = ${baseRate} records/s${base.failed ? ` (${base.failed} failed)` : ''}`,
)
{
  // CPU a record on each side, the same way: what the ratio would be where CPU, not one
  // machine's two shared cores or bsky's round trips, bounds each (Postgres on cores of its own).
  const per = (seconds, n) => (seconds * 1e6) / n
  const node = [per(ours.cpu, events.length), per(base.cpu, baseEvents.length)]
  const pgCpu = [per(ours.services.postgres, events.length), per(base.services.postgres, baseEvents.length)]
  const all = [node[0] + pgCpu[0] + per(ours.services.pgbouncer, events.length), node[1] + pgCpu[1]]
  console.log(
    `         CPU per record, bsky: Node ${node[1].toFixed(0)} µs, Postgres ${pgCpu[1].toFixed(0)} µs; bsky's over ours: Node ${(node[1] / node[0]).toFixed(1)}×, Postgres ${(pgCpu[1] / pgCpu[0]).toFixed(1)}×, all ${(all[1] / all[0]).toFixed(1)}× (pgbouncer in ours)`,
  )
}
console.log(`ratio: ${(oursRate / baseRate).toFixed(1)}×   (goal: ≥ 15×, peak RSS ≤ 400 MB)`)
console.log(
  `load average: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${availableParallelism()} cores (Redis, Postgres, pgbouncer and other jobs share them)`,
)
if (ours.dlq > 0) {
  console.error(`${ours.dlq} entries were dead-lettered`)
  process.exitCode = 1
}
report({ bench: 'indexer', unit: 'records/s', value: oursRate, baseline: baseRate, peakRssMb: ours.hwmMb })
