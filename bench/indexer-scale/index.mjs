// `pnpm bench indexer-scale`: how the indexer's normal path holds up as the database grows. One
// fresh database, migrated by the indexer's own migrations, is filled server-side (fill.mjs) to
// each size of BENCH_SCALE_SIZES stored records in turn; at each size a fresh stream of
// BENCH_SCALE_EVENTS events of the bench mix (bench/indexer/events.mjs, a new tag per size, a
// quarter of their subjects among the fill's hottest posts) is drained by the real indexer
// process into it (bench/lib/indexer-drain.mjs, as `pnpm bench indexer`), BENCH_SCALE_DRAINS times
// (3; the median drain is the size's figure). Prints the curve and,
// last, {"bench":"indexer-scale","unit":"records/s","value":<rate at the largest size>,
// "baseline":<rate at the first size>,...}. The database is dropped at the end.
import { randomBytes } from 'node:crypto'
import { availableParallelism, loadavg } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { ensureServices } from '../../scripts/services-env.mjs'
import { positive } from '../lib/env.mjs'
import { admin, root, withDb } from '../lib/indexer-drain.mjs'
import { report } from '../lib/report.mjs'
import { ACCOUNTS, BATCH, CONCURRENCY, EVENTS, HOT_DESCRIPTION, hotPosts, measureDrain, NODE_FLAGS } from './drain.mjs'
import { aggregatesSql, fillAccountsSql, fillChunkSql } from './fill.mjs'

function intList(name, fallback) {
  const raw = process.env[name] ?? fallback
  const list = raw.split(',').map((s) => s.trim())
  if (list.length === 0 || list.some((s) => !/^\d+$/.test(s)))
    throw new Error(`${name} must be a comma-separated list of integers >= 0 (got "${raw}")`)
  const nums = list.map(Number)
  if (nums.some((n, i) => i > 0 && n <= nums[i - 1])) throw new Error(`${name} must be in increasing order (got "${raw}")`)
  return nums
}
const SIZES = intList('BENCH_SCALE_SIZES', '0,1000000,5000000,10000000')
const CHUNK = positive('BENCH_SCALE_CHUNK', 500_000)
// Drains per size: one drain of 30k events at 10 M records moved between ~2,000 and ~3,000
// records/s on the same database and build; the median of several is the size's figure.
const DRAINS = positive('BENCH_SCALE_DRAINS', 3)
const INDEXER_MAIN = process.env.BENCH_INDEXER_MAIN ?? join(root, 'apps/indexer/dist/main.js')
// BENCH_SCALE_KEEP=1: the database is kept at the end (its name printed), for
// `PROFILE_DATABASE=<name> node bench/indexer/profile.mjs` (the writer's statements on it).
const KEEP = process.env.BENCH_SCALE_KEEP === '1'

ensureServices(['REDIS_URL', 'DATABASE_URL', 'DATABASE_DIRECT_URL'])
const runTag = randomBytes(4).toString('hex')
const dbName = `bench_scale_${runTag}`
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')
const seconds = (t0) => (performance.now() - t0) / 1000

let dropped = false
async function drop() {
  if (dropped) return
  dropped = true
  if (KEEP) {
    console.log(`kept database ${dbName} (BENCH_SCALE_KEEP=1): drop it with DROP DATABASE ${dbName}`)
    return
  }
  await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
}
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => {
    drop().finally(() => process.exit(130))
  })

/** Records n in [from, to), in statements of CHUNK rows, then the aggregates, VACUUM ANALYZE. */
async function fillTo(db, from, to) {
  const t0 = performance.now()
  // the counters' triggers (migration 0011) off: the fill recounts every aggregate at the end
  await db.query('SET session_replication_role = replica')
  if (from === 0 && to > 0) await db.query(fillAccountsSql, [ACCOUNTS])
  for (let lo = from; lo < to; lo += CHUNK) {
    const hi = Math.min(to, lo + CHUNK)
    const t = performance.now()
    await db.query(fillChunkSql, [lo, hi, ACCOUNTS])
    console.log(`  filled ${hi.toLocaleString('en')} records (${Math.round((hi - lo) / seconds(t))} records/s), load ${load()}`)
  }
  await db.query('RESET session_replication_role')
  for (const q of aggregatesSql) await db.query(q)
  const fillS = seconds(t0)
  const t1 = performance.now()
  await db.query('VACUUM (ANALYZE)')
  return { fillS, vacuumS: seconds(t1) }
}

const rows = []
let exitCode = 0
console.log(
  `indexer-scale bench: sizes ${SIZES.join(', ')} stored records; ${EVENTS} events measured per size from ${ACCOUNTS} accounts (${HOT_DESCRIPTION})`,
)
console.log(
  `indexer: INDEXER_CONCURRENCY_PER_SHARD=${CONCURRENCY} INDEXER_READ_BATCH=${BATCH}, NODE_OPTIONS="${NODE_FLAGS}", through pgbouncer (transaction mode)`,
)
try {
  await admin(`CREATE DATABASE ${dbName}`)
  {
    const { createDb } = await import(join(root, 'apps/indexer/dist/db/database.js'))
    const { migrate } = await import(join(root, 'apps/indexer/dist/db/migrator.js'))
    const database = createDb(withDb(process.env.DATABASE_URL, dbName), 2)
    await migrate(database)
    await database.close()
  }
  const db = new pg.Client({ connectionString: withDb(process.env.DATABASE_DIRECT_URL, dbName) })
  await db.connect()
  try {
    let filled = 0
    for (const [step, size] of SIZES.entries()) {
      console.log(`size ${size.toLocaleString('en')}: filling from ${filled.toLocaleString('en')}`)
      const { fillS, vacuumS } = await fillTo(db, filled, size)
      filled = size
      const bytes = Number((await db.query('SELECT pg_database_size(current_database()) AS b')).rows[0].b)
      const hot = await hotPosts(db)
      const drains = []
      for (let d = 0; d < DRAINS; d++) {
        const loadBefore = load()
        const r = await measureDrain({ dbName, tag: `${runTag}s${step}d${d}`, hot, indexerMain: INDEXER_MAIN })
        const drain = { ...r, size, gb: bytes / 1024 ** 3, fillS, vacuumS, load: `${loadBefore} → ${load()}` }
        drains.push(drain)
        console.log(
          `  drain ${d + 1}/${DRAINS}: ${EVENTS} events in ${(r.ms / 1000).toFixed(2)} s = ${drain.rate} records/s; CPU per record: indexer ${drain.indexerUs.toFixed(0)} µs, Postgres ${drain.postgresUs.toFixed(0)} µs, pgbouncer+Redis ${drain.otherUs.toFixed(0)} µs; machine ${drain.busy}% busy; database ${drain.gb.toFixed(2)} GB; dead-lettered ${r.dlq}; load ${drain.load}`,
        )
        if (r.dlq > 0) exitCode = 1
      }
      // the size's figures: those of its median drain by records/s
      const median = [...drains].sort((a, b) => a.rate - b.rate)[Math.floor((drains.length - 1) / 2)]
      rows.push({ ...median, rates: drains.map((d) => d.rate), hwmMb: Math.max(...drains.map((d) => d.hwmMb)) })
    }
  } finally {
    await db.end()
  }
} finally {
  await drop()
}

console.log(
  '\n      size  records/s  indexer µs/rec  Postgres µs/rec  other µs/rec  busy  database GB  fill s  vacuum s  records/s of each drain',
)
for (const r of rows)
  console.log(
    `${r.size.toLocaleString('en').padStart(10)}  ${String(r.rate).padStart(9)}  ${r.indexerUs.toFixed(0).padStart(14)}  ${r.postgresUs.toFixed(0).padStart(15)}  ${r.otherUs.toFixed(0).padStart(12)}  ${`${r.busy}%`.padStart(4)}  ${r.gb.toFixed(2).padStart(11)}  ${r.fillS.toFixed(0).padStart(6)}  ${r.vacuumS.toFixed(0).padStart(8)}  ${r.rates.join(', ')}`,
  )
console.log(`load average: ${load()} on ${availableParallelism()} cores (Redis, Postgres, pgbouncer and other jobs share them)`)
if (exitCode) {
  console.error('entries were dead-lettered')
  process.exitCode = exitCode
}
const first = rows[0]
const last = rows[rows.length - 1]
report({
  bench: 'indexer-scale',
  unit: 'records/s',
  value: last.rate,
  baseline: first.rate,
  peakRssMb: Math.max(...rows.map((r) => r.hwmMb)),
})
