// `pnpm bench indexer-hot-keys`: what a hot key costs the normal path. On the network a viral
// post has 1e5–1e6 likes and a large account as many followers; every batch that likes the post
// or follows the account must bring its counter up to date. One fresh database (migrated by the
// indexer's own migrations) holds a post with BENCH_HOT_ROWS likes and an account with as many
// followers, plus as many rows on distinct keys (inserted server-side, counters set). Then, alternating, BENCH_EVENTS events that all
// like that post or follow that account ("hot"), and as many that like and follow keys nobody
// touched before ("cold"), every liker and follower a new DID, are indexed with the writer
// (`indexBatch`, B events a batch, C batches at a time, through pgbouncer).
// Last line: value = hot records/s, baseline = cold records/s (medians of BENCH_ROUNDS), ratio.
// BENCH_INDEXER_DIST=/path/to/apps/indexer/dist measures another build.
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { cidFor, tid } from '../indexer/events.mjs'
import { admin, root, withDb } from '../lib/indexer-drain.mjs'
import { rate, report, rssSampler } from '../lib/report.mjs'

const dist = process.env.BENCH_INDEXER_DIST ?? join(root, 'apps/indexer/dist')
const { createDb } = await import(join(dist, 'db/database.js'))
const { migrate } = await import(join(dist, 'db/migrator.js'))
const { indexBatch } = await import(join(dist, 'writer/index-batch.js'))

const HOT_ROWS = Number(process.env.BENCH_HOT_ROWS ?? 300_000)
const N = Number(process.env.BENCH_EVENTS ?? 10_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const C = Number(process.env.C ?? 4)
const B = Number(process.env.B ?? 500)

const name = `hot_${randomBytes(4).toString('hex')}`
const createdAt = '2026-01-01T00:00:00.000Z'
const star = 'did:plc:hotaccount0000000000'
const viral = { uri: `at://${star}/app.bsky.feed.post/3hotpost00000`, cid: cidFor('viral') }

/** Events of one run: half like `subject(i)`, half follow `account(i)`, each by a new DID. */
function events(tag, subject, account) {
  const out = []
  for (let i = 0; i < N; i++) {
    const did = `did:plc:${tag}${String(i).padStart(12, '0')}`
    const base = {
      seq: i + 1,
      time: new Date(Date.parse(createdAt) + i).toISOString(),
      did,
      commit: cidFor(`c:${tag}:${i}`),
      rev: tid(1_000_000 + i),
    }
    const rkey = tid(2_000_000 + i)
    const [collection, record] =
      i % 2 === 0
        ? ['app.bsky.feed.like', { $type: 'app.bsky.feed.like', subject: subject(i), createdAt }]
        : ['app.bsky.graph.follow', { $type: 'app.bsky.graph.follow', subject: account(i), createdAt }]
    out.push({ type: 'create', ...base, collection, rkey, cid: cidFor(`r:${tag}:${i}`), record })
  }
  return out
}

async function run(database, list) {
  const batches = []
  for (let i = 0; i < list.length; i += B) batches.push(list.slice(i, i + B))
  let next = 0
  const t = performance.now()
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < batches.length) {
        const r = await indexBatch(database, batches[next++])
        if (r.failed.length) throw new Error(`failed: ${r.outcomes[r.failed[0]].error?.message}`)
      }
    }),
  )
  return rate(list.length, performance.now() - t)
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

await admin(`CREATE DATABASE ${name}`)
const rss = rssSampler()
let database
try {
  database = createDb(withDb(process.env.DATABASE_URL, name), C * 2)
  await migrate(database)
  const direct = new pg.Client({ connectionString: withDb(process.env.DATABASE_DIRECT_URL, name) })
  direct.on('error', () => {}) // terminated by the DROP DATABASE of a failed run
  await direct.connect()
  const t0 = performance.now()
  // triggers off (a build's counters kept by delta): the counters are set below
  await direct.query('SET session_replication_role = replica')
  await direct.query(
    `INSERT INTO "like" (uri, cid, creator, subject, "subjectCid", "createdAt", "indexedAt")
     SELECT 'at://did:plc:seed' || g || '/app.bsky.feed.like/3seed', 'bafyseed', 'did:plc:seed' || g, $1, $2, $3, $3
     FROM generate_series(1, $4::int) g`,
    [viral.uri, viral.cid, createdAt, HOT_ROWS],
  )
  await direct.query(
    `INSERT INTO follow (uri, cid, creator, "subjectDid", "createdAt", "indexedAt")
     SELECT 'at://did:plc:seed' || g || '/app.bsky.graph.follow/3seed', 'bafyseed', 'did:plc:seed' || g, $1, $2, $2
     FROM generate_series(1, $3::int) g`,
    [star, createdAt, HOT_ROWS],
  )
  // as many rows on distinct keys, so that the planner's statistics look like a real table's
  // (all rows on one key would make it scan the table for every other key's count)
  await direct.query(
    `INSERT INTO "like" (uri, cid, creator, subject, "subjectCid", "createdAt", "indexedAt")
     SELECT 'at://did:plc:bg' || g || '/app.bsky.feed.like/3seed', 'bafyseed', 'did:plc:bg' || g, 'at://did:plc:bg' || g || '/app.bsky.feed.post/3p', $1, $2, $2
     FROM generate_series(1, $3::int) g`,
    [viral.cid, createdAt, HOT_ROWS],
  )
  await direct.query(
    `INSERT INTO follow (uri, cid, creator, "subjectDid", "createdAt", "indexedAt")
     SELECT 'at://did:plc:bg' || g || '/app.bsky.graph.follow/3seed', 'bafyseed', 'did:plc:bg' || g, 'did:plc:bgs' || g, $1, $1
     FROM generate_series(1, $2::int) g`,
    [createdAt, HOT_ROWS],
  )
  await direct.query('RESET session_replication_role')
  await direct.query(`INSERT INTO post_agg (uri, "likeCount") VALUES ($1, $2)`, [viral.uri, HOT_ROWS])
  await direct.query(`INSERT INTO profile_agg (did, "followersCount") VALUES ($1, $2)`, [star, HOT_ROWS])
  await direct.query('VACUUM (ANALYZE)')
  console.log(
    `indexer-hot-keys: ${dist}; a post with ${HOT_ROWS.toLocaleString('en')} likes and an account with as many followers (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  )
  console.log(`${N} events a run (half likes, half follows), B=${B} C=${C}, ${ROUNDS} rounds alternating hot and cold`)

  const hot = []
  const cold = []
  for (let r = 0; r < ROUNDS; r++) {
    hot.push(
      await run(
        database,
        events(
          `h${r}x`,
          () => viral,
          () => star,
        ),
      ),
    )
    cold.push(
      await run(
        database,
        events(
          `c${r}x`,
          (i) => ({ uri: `at://did:plc:cold${r}x${i}/app.bsky.feed.post/3coldpost0000`, cid: cidFor(`cold:${r}:${i}`) }),
          (i) => `did:plc:cold${r}y${i}`,
        ),
      ),
    )
    console.log(`round ${r + 1}: hot ${hot[r]} records/s, cold ${cold[r]} records/s`)
  }
  const counts = (
    await direct.query(
      `SELECT (SELECT "likeCount" FROM post_agg WHERE uri = $1)::int AS likes, (SELECT count(*) FROM "like" WHERE subject = $1)::int AS "likeRows",
        (SELECT "followersCount" FROM profile_agg WHERE did = $2)::int AS followers, (SELECT count(*) FROM follow WHERE "subjectDid" = $2)::int AS "followRows"`,
      [viral.uri, star],
    )
  ).rows[0]
  console.log(`counters at the end: ${JSON.stringify(counts)}`)
  await direct.end()
  if (counts.likes !== counts.likeRows || counts.followers !== counts.followRows) throw new Error('a counter differs from its base rows')
  report({ bench: 'indexer-hot-keys', unit: 'records/s', value: median(hot), baseline: median(cold), peakRssMb: rss.peakMb() })
} catch (err) {
  console.error(err)
  process.exitCode = 1
} finally {
  rss.stop()
  await database?.close()
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
}
