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
import { eventMix } from '../indexer/events.mjs'
import { drainWithIndexer, indexerNodeFlags, root, withDb } from '../lib/indexer-drain.mjs'
import { hotPostsSql } from './fill.mjs'

ensureServices(['REDIS_URL', 'DATABASE_URL', 'DATABASE_DIRECT_URL'])
const dbName = process.env.BENCH_SCALE_DATABASE
if (!dbName || !/^[a-z0-9_]+$/.test(dbName)) throw new Error('BENCH_SCALE_DATABASE must name a kept bench database (bench_scale_<tag>)')
const mains = (process.env.BENCH_SCALE_MAINS ?? join(root, 'apps/indexer/dist/main.js')).split(',').map((s) => s.trim())
const rounds = Number(process.env.BENCH_SCALE_ROUNDS ?? 2)
const events = Number(process.env.BENCH_SCALE_EVENTS ?? 30_000)
if (!Number.isInteger(rounds) || rounds < 1) throw new Error('BENCH_SCALE_ROUNDS must be a positive integer')
if (!Number.isInteger(events) || events < 1) throw new Error('BENCH_SCALE_EVENTS must be a positive integer')
const envs = mains.map((_, i) => JSON.parse(process.env[`BENCH_SCALE_ENV_${i}`] ?? '{}'))

const db = new pg.Client({ connectionString: withDb(process.env.DATABASE_DIRECT_URL, dbName) })
await db.connect()
try {
  const size = Number((await db.query(`SELECT reltuples::bigint AS n FROM pg_class WHERE relname = 'record'`)).rows[0]?.n ?? 0)
  console.log(`database ${dbName}: about ${size.toLocaleString('en')} stored records; ${events} events a drain`)
  const hot = (await db.query(hotPostsSql, [1000, 20_000])).rows
  for (let round = 0; round < rounds; round++)
    for (const [i, main] of mains.entries()) {
      const tag = `${randomBytes(3).toString('hex')}a${round}`
      const mix = eventMix(events, { accounts: 20_000, tag, existing: { posts: hot, share: 0.25 } })
      const r = await drainWithIndexer(mix, {
        dbName,
        tag,
        indexerMain: main,
        nodeFlags: indexerNodeFlags(),
        concurrency: process.env.INDEXER_CONCURRENCY_PER_SHARD ?? '100',
        batch: process.env.INDEXER_READ_BATCH ?? '500',
        env: envs[i],
      })
      const us = (s) => ((s * 1e6) / events).toFixed(0)
      const busy = Math.round((100 * r.services.machineBusy) / (r.services.machineBusy + r.services.machineIdle))
      console.log(
        `build ${i} (${main}): ${Math.round((events * 1000) / r.ms)} records/s; CPU per record: indexer ${us(r.cpu)} µs, Postgres ${us(r.services.postgres)} µs; machine ${busy}% busy; dead-lettered ${r.dlq}`,
      )
    }
} finally {
  await db.end()
}
