// Where the time of indexBatch goes: indexes N events of the bench mix (events.mjs) in batches
// of B, C batches at a time, into a fresh database through pgbouncer, and prints the time spent
// in each statement (wall clock from send to result, summed; top 25). EXPLAIN=<regex> runs the
// statements whose text matches as EXPLAIN (ANALYZE, BUFFERS) in batch EXPLAIN_AT (default 20)
// and prints the plans (that batch's results are then wrong: for looking, not for counting).
//   N=20000 C=1 B=500 node bench/indexer/profile.mjs        (needs DATABASE_URL, DATABASE_DIRECT_URL)
// NOTIFICATIONS=false: index without bsky's notification rows (INDEXER_NOTIFICATIONS=false).
// PROFILE_DATABASE=<name>: index into that existing database instead (one bench/indexer-scale
// filled and kept, BENCH_SCALE_KEEP=1), a quarter of the subjects among its hottest posts as in
// that bench; it is left in place.
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { createDb } from '../../apps/indexer/dist/db/database.js'
import { migrate } from '../../apps/indexer/dist/db/migrator.js'
import { indexBatch } from '../../apps/indexer/dist/writer/index-batch.js'
import { prepareEvents } from '../../apps/indexer/dist/writer/prepare.js'
import { eventMix } from './events.mjs'
const N = Number(process.env.N ?? 20000),
  C = Number(process.env.C ?? 1),
  B = Number(process.env.B ?? 500)
const suffix = randomBytes(4).toString('hex')
const existingDb = process.env.PROFILE_DATABASE
const name = existingDb ?? `prof_${suffix}`
const admin = async (q) => {
  const c = new pg.Client({ connectionString: process.env.DATABASE_DIRECT_URL })
  await c.connect()
  await c.query(q)
  await c.end()
}
if (!existingDb) await admin(`CREATE DATABASE ${name}`)
const u = new URL(process.env.DATABASE_URL)
u.pathname = `/${name}`
const database = createDb(u.toString(), C * 2)
await migrate(database)
let existing
if (existingDb) {
  const { hotPostsSql } = await import('../indexer-scale/fill.mjs')
  existing = { posts: (await database.pool.query(hotPostsSql, [1000, 20000])).rows, share: 0.25 }
}
const times = new Map()
// Bytes a parameter takes as text (as pg sends it; array escaping not counted).
const size = (v) => (v === null || v === undefined ? 0 : Array.isArray(v) ? v.reduce((n, x) => n + size(x) + 1, 2) : String(v).length)
const orig = pg.Client.prototype.query
pg.Client.prototype.query = function (...args) {
  const text = typeof args[0] === 'string' ? args[0] : (args[0]?.text ?? '')
  const key = text.replace(/\s+/g, ' ').slice(0, 60)
  if (process.env.EXPLAIN && globalThis.explainNow && new RegExp(process.env.EXPLAIN).test(key)) {
    const q = typeof args[0] === 'string' ? { text: args[0], values: args[1] } : { ...args[0] }
    q.text = `EXPLAIN (ANALYZE, BUFFERS) ${q.text}`
    return orig.call(this, q).then((r) => {
      console.log(r.rows.map((x) => x['QUERY PLAN']).join('\n'))
      return { rows: [], rowCount: 0 }
    })
  }
  const t0 = performance.now()
  const values = (typeof args[0] === 'string' ? args[1] : args[0]?.values) ?? []
  const bytes = text.length + values.reduce((n, v) => n + size(v), 0)
  const r = orig.apply(this, args)
  if (r?.then)
    r.then(
      () => {
        const e = times.get(key) ?? [0, 0, 0]
        e[0]++
        e[1] += performance.now() - t0
        e[2] += bytes
        times.set(key, e)
      },
      () => {},
    )
  return r
}
const events = existingDb ? eventMix(N, { accounts: 20000, tag: `p${suffix}`, existing }) : eventMix(N, { accounts: 20000, tag: 'p' })
let t = performance.now()
for (let i = 0; i < events.length; i += B) prepareEvents(events.slice(i, i + B))
console.log(`prepare (validation) only: ${Math.round(N / ((performance.now() - t) / 1000))} ev/s`)
const batches = []
for (let i = 0; i < events.length; i += B) batches.push(events.slice(i, i + B))
t = performance.now()
let next = 0
await Promise.all(
  Array.from({ length: C }, async () => {
    while (next < batches.length) {
      const k = next
      const b = batches[next++]
      globalThis.explainNow = k === Number(process.env.EXPLAIN_AT ?? 20)
      const r = await indexBatch(database, b, { notifications: process.env.NOTIFICATIONS !== 'false' })
      if (r.failed.length) console.log('failed', r.outcomes[r.failed[0]].error?.message)
    }
  }),
)
const s = (performance.now() - t) / 1000
console.log(`C=${C} B=${B}: ${N} in ${s.toFixed(2)}s = ${Math.round(N / s)} ev/s`)
const totalBytes = [...times.values()].reduce((n, e) => n + e[2], 0)
console.log(`sent: ${Math.round(totalBytes / N)} bytes per event (query text and parameters)`)
for (const [k, [n, ms, bytes]] of [...times].sort((a, b) => b[1][1] - a[1][1]).slice(0, 25))
  console.log(`${ms.toFixed(0).padStart(7)} ms ${String(n).padStart(5)}x ${String(Math.round(bytes / N)).padStart(5)} B/ev  ${k}`)
await database.close()
if (!existingDb) await admin(`DROP DATABASE ${name} WITH (FORCE)`)
