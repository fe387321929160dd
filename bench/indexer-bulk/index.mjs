// `pnpm bench indexer-bulk`: a first backfill's events (bench/indexer/events.mjs) indexed into an
// empty database twice, in one run: by the normal path (the baseline), and by the bulk load
// (`bulk-load start`, the real indexer with INDEXER_MODE=bulk draining the same stream, then
// `bulk-load finish`, timed with the drain). The two databases are then compared table by table
// (every table the writer fills, but for columns that are not data); the bench fails when they
// differ. Last line: {"bench":"indexer-bulk","unit":"records/s","value":<bulk, finish
// included>,"baseline":<normal>,...}.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { availableParallelism, loadavg } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ensureServices } from '../../scripts/services-env.mjs'
import { eventMix } from '../indexer/events.mjs'
import { positive } from '../lib/env.mjs'
import { admin, drainWithIndexer, indexerNodeFlags, root, withClient, withDb } from '../lib/indexer-drain.mjs'
import { cpuSeconds, serviceCpuMeter } from '../lib/service-cpu.mjs'
import { report } from '../lib/report.mjs'

const N = positive('BENCH_EVENTS', 60_000)
const ACCOUNTS = positive('BENCH_ACCOUNTS', 20_000)
const CONCURRENCY = process.env.INDEXER_CONCURRENCY_PER_SHARD ?? '100'
const BATCH = process.env.INDEXER_READ_BATCH ?? '500'
const BULK_BATCH = process.env.BENCH_BULK_BATCH ?? BATCH
const NODE_FLAGS = indexerNodeFlags()
const BULK_LOAD = join(root, 'apps/indexer/dist/bulk-load.js')
// BENCH_BULK_KEEP=1: both databases are kept (their names printed), the bulk load's finished or,
// with BENCH_BULK_FINISH=0, still open after the drain (to look at its statements and indexes).
const KEEP = process.env.BENCH_BULK_KEEP === '1'
const FINISH = process.env.BENCH_BULK_FINISH !== '0'
// The tables the writer fills and their columns that are not data (apps/indexer/src/db/written-tables.ts).
const { WRITTEN_TABLES } = await import(pathToFileURL(join(root, 'apps/indexer/dist/db/written-tables.js')).href)
const TABLES = [...WRITTEN_TABLES.map(([t]) => t), 'indexer_snapshot_floor']
const NOT_DATA = Object.fromEntries(WRITTEN_TABLES)

ensureServices(['REDIS_URL', 'DATABASE_URL', 'DATABASE_DIRECT_URL'])
const tag = randomBytes(4).toString('hex')
const rateOf = (n, ms) => Math.round((n * 1000) / ms)

/** `node dist/bulk-load.js <command>` on database `dbName`; its wall clock and CPU. */
function bulkLoad(command, dbName) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [BULK_LOAD, command], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: withDb(process.env.DATABASE_URL, dbName),
        LOG_LEVEL: process.env.BENCH_BULK_LOG_LEVEL ?? 'warn',
        NODE_OPTIONS: NODE_FLAGS,
      },
    })
    let cpu = 0
    const sampler = setInterval(() => (cpu = Math.max(cpu, cpuSeconds(child.pid))), 100)
    child.once('exit', (code) => {
      clearInterval(sampler)
      if (code === 0) resolve({ ms: performance.now() - t0, cpu })
      else reject(new Error(`bulk-load ${command} exited with ${code}`))
    })
  })
}

/** `SELECT <the table's data columns, by name> FROM <table>`: columns that are not data left out. */
async function dataSelect(db, t) {
  const cols = (
    await db.query(
      `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = 'public' ORDER BY column_name`,
      [t],
    )
  ).rows
    .map((r) => r.column_name)
    .filter((c) => !(NOT_DATA[t] ?? []).includes(c))
  return `SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM "${t}"`
}

/** Per table: row count and a digest of its rows (sorted, as text). */
const digest = (dbName) =>
  withClient(dbName, async (db) => {
    const out = {}
    for (const t of TABLES) {
      const r = await db.query(
        `SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS h FROM (${await dataSelect(db, t)}) x`,
      )
      out[t] = r.rows[0]
    }
    return out
  })

/** A table's rows, as text. */
const rowsOf = (dbName, t) =>
  withClient(
    dbName,
    async (db) => new Set((await db.query(`SELECT x::text AS r FROM (${await dataSelect(db, t)}) x`)).rows.map((r) => r.r)),
  )

const events = eventMix(N, { accounts: ACCOUNTS, tag })
console.log(`indexer-bulk bench: ${events.length} events of the indexer bench's mix from ${ACCOUNTS} accounts, into empty databases`)
console.log(
  `normal: INDEXER_READ_BATCH=${BATCH}; bulk: INDEXER_MODE=bulk INDEXER_READ_BATCH=${BULK_BATCH}; INDEXER_CONCURRENCY_PER_SHARD=${CONCURRENCY}`,
)
const normalDb = `bench_norm_${tag}`
const bulkDb = `bench_bulk_${tag}`
await admin(`CREATE DATABASE ${normalDb}`)
await admin(`CREATE DATABASE ${bulkDb}`)
let failed = false
try {
  /** The real indexer process drains the events into `dbName` (bench/lib/indexer-drain.mjs). */
  const drain = (dbName, suffix, batch, env = {}) =>
    drainWithIndexer(events, {
      dbName,
      tag: `${tag}${suffix}`,
      indexerMain: join(root, 'apps/indexer/dist/main.js'),
      nodeFlags: NODE_FLAGS,
      concurrency: CONCURRENCY,
      batch,
      env,
    })
  const normal = await drain(normalDb, 'n', BATCH)
  const us = (s) => ((s * 1e6) / events.length).toFixed(0)
  const normalRate = rateOf(events.length, normal.ms)
  console.log(
    `normal: ${(normal.ms / 1000).toFixed(1)} s = ${normalRate} records/s; CPU per record: indexer ${us(normal.cpu)} µs, Postgres ${us(normal.services.postgres)} µs; peak RSS ${normal.hwmMb} MB`,
  )

  await bulkLoad('start', bulkDb) // (migrates the empty database first, as the indexer would)
  const drained = await drain(bulkDb, 'b', BULK_BATCH, { INDEXER_MODE: 'bulk' })
  if (!FINISH) console.log(`bulk: load ${(drained.ms / 1000).toFixed(1)} s; not finished (BENCH_BULK_FINISH=0)`)
  else await finishAndCompare(normal, normalRate, drained, us)
} finally {
  if (KEEP) console.log(`kept: databases ${normalDb} and ${bulkDb}`)
  else for (const db of [normalDb, bulkDb]) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
}
if (failed) process.exitCode = 1

/** Finish the bulk load (timed with the drain), compare the two databases, report. */
async function finishAndCompare(normal, normalRate, drained, us) {
  const meter = serviceCpuMeter()
  const finish = await bulkLoad('finish', bulkDb)
  const finishPg = meter.total().postgres
  const bulkMs = drained.ms + finish.ms
  const bulkRate = rateOf(events.length, bulkMs)
  console.log(
    `bulk:   load ${(drained.ms / 1000).toFixed(1)} s (indexer ${us(drained.cpu)} µs, Postgres ${us(drained.services.postgres)} µs per record) + finish ${(finish.ms / 1000).toFixed(1)} s (${us(finish.cpu)} µs, Postgres ${us(finishPg)} µs per record) = ${bulkRate} records/s; peak RSS ${drained.hwmMb} MB`,
  )
  const [a, b] = await Promise.all([digest(normalDb), digest(bulkDb)])
  const differ = TABLES.filter((t) => a[t].n !== b[t].n || a[t].h !== b[t].h)
  console.log(`tables: ${TABLES.map((t) => `${t} ${a[t].n}`).join(', ')}`)
  if (differ.length > 0) {
    failed = true
    for (const t of differ) {
      const [ra, rb] = await Promise.all([rowsOf(normalDb, t), rowsOf(bulkDb, t)])
      const onlyA = [...ra].filter((r) => !rb.has(r)).slice(0, 5)
      const onlyB = [...rb].filter((r) => !ra.has(r)).slice(0, 5)
      console.error(`${t}: only in the normal path's: ${JSON.stringify(onlyA)}; only in the bulk load's: ${JSON.stringify(onlyB)}`)
    }
    console.error(
      `the bulk load's tables differ from the normal path's: ${differ.map((t) => `${t} (${b[t].n} rows against ${a[t].n})`).join(', ')}`,
    )
  } else console.log(`the ${TABLES.length} tables are equal, row for row`)
  if (normal.dlq + drained.dlq > 0) {
    failed = true
    console.error(`${normal.dlq + drained.dlq} entries were dead-lettered`)
  }
  console.log(
    `load average: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${availableParallelism()} cores`,
  )
  report({
    bench: 'indexer-bulk',
    unit: 'records/s',
    value: bulkRate,
    baseline: normalRate,
    peakRssMb: Math.max(normal.hwmMb, drained.hwmMb),
  })
}
