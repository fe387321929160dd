// Measure again on a database that `BENCH_SCALE_KEEP=1 pnpm bench indexer-scale` kept: the same
// drain as at each size of the curve (index.mjs), BENCH_SCALE_ROUNDS times for each build of
// BENCH_SCALE_MAINS (comma-separated paths of apps/indexer/dist/main.js; default this checkout's),
// alternating, so that builds are compared on one database in one session. Each drain adds its
// events to the database (30,000 on 10 M records: 0.3%).
//   BENCH_SCALE_DATABASE=bench_scale_<tag> BENCH_SCALE_MAINS=/a/dist/main.js,/b/dist/main.js \
//     node bench/indexer-scale/again.mjs
// Extra environment for the indexer of one build: BENCH_SCALE_ENV_<i>='{"NAME":"value"}' (i from 0).
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import pg from 'pg'
import { ensureServices } from '../../scripts/services-env.mjs'
import { positive } from '../lib/env.mjs'
import { root, withDb } from '../lib/indexer-drain.mjs'
import { EVENTS, hotPosts, measureDrain } from './drain.mjs'

ensureServices(['REDIS_URL', 'DATABASE_URL', 'DATABASE_DIRECT_URL'])
const dbName = process.env.BENCH_SCALE_DATABASE
if (!dbName || !/^[a-z0-9_]+$/.test(dbName)) throw new Error('BENCH_SCALE_DATABASE must name a kept bench database (bench_scale_<tag>)')
const mains = (process.env.BENCH_SCALE_MAINS ?? join(root, 'apps/indexer/dist/main.js')).split(',').map((s) => s.trim())
const rounds = positive('BENCH_SCALE_ROUNDS', 2)
const envs = mains.map((_, i) => JSON.parse(process.env[`BENCH_SCALE_ENV_${i}`] ?? '{}'))

const db = new pg.Client({ connectionString: withDb(process.env.DATABASE_DIRECT_URL, dbName) })
await db.connect()
try {
  const size = Number((await db.query(`SELECT reltuples::bigint AS n FROM pg_class WHERE relname = 'record'`)).rows[0]?.n ?? 0)
  console.log(`database ${dbName}: about ${size.toLocaleString('en')} stored records; ${EVENTS} events a drain`)
  const hot = await hotPosts(db)
  for (let round = 0; round < rounds; round++)
    for (const [i, main] of mains.entries()) {
      const r = await measureDrain({ dbName, tag: `${randomBytes(3).toString('hex')}a${round}`, hot, indexerMain: main, env: envs[i] })
      console.log(
        `build ${i} (${main}): ${r.rate} records/s; CPU per record: indexer ${r.indexerUs.toFixed(0)} µs, Postgres ${r.postgresUs.toFixed(0)} µs; machine ${r.busy}% busy; dead-lettered ${r.dlq}`,
      )
    }
} finally {
  await db.end()
}
