// One measured drain of the scale bench, shared by index.mjs (the curve) and again.mjs (a kept
// database, builds alternating): a fresh stream of `events` events of the bench mix, a quarter of
// the likes, reposts, replies and quotes on the fill's hottest posts, drained by the real indexer
// process (bench/lib/indexer-drain.mjs), and its figures per record.
import { eventMix } from '../indexer/events.mjs'
import { positive } from '../lib/env.mjs'
import { drainWithIndexer, indexerNodeFlags } from '../lib/indexer-drain.mjs'
import { hotPostsSql } from './fill.mjs'

/** The fill's hottest posts that a quarter of the measured likes, reposts, replies, quotes target. */
const HOT_POSTS = 1000
const HOT_SHARE = 0.25

export const EVENTS = positive('BENCH_SCALE_EVENTS', 30_000)
export const ACCOUNTS = positive('BENCH_ACCOUNTS', 20_000)
export const CONCURRENCY = process.env.INDEXER_CONCURRENCY_PER_SHARD ?? '100'
export const BATCH = process.env.INDEXER_READ_BATCH ?? '500'
export const NODE_FLAGS = indexerNodeFlags()
export const HOT_DESCRIPTION = `${HOT_SHARE * 100}% of subjects among the ${HOT_POSTS} hottest filled posts`

/** The posts the measured events' hot quarter targets (read once per size). */
export async function hotPosts(db) {
  return (await db.query(hotPostsSql, [HOT_POSTS, ACCOUNTS])).rows
}

/** Drain EVENTS events tagged `tag` into `dbName` with the indexer at `indexerMain`. */
export async function measureDrain({ dbName, tag, hot, indexerMain, env = {} }) {
  const events = eventMix(EVENTS, { accounts: ACCOUNTS, tag, existing: { posts: hot, share: HOT_SHARE } })
  const r = await drainWithIndexer(events, { dbName, tag, indexerMain, nodeFlags: NODE_FLAGS, concurrency: CONCURRENCY, batch: BATCH, env })
  const us = (s) => (s * 1e6) / EVENTS
  return {
    ms: r.ms,
    rate: Math.round((EVENTS * 1000) / r.ms),
    indexerUs: us(r.cpu),
    postgresUs: us(r.services.postgres),
    otherUs: us(r.services.pgbouncer + r.services['redis-server']),
    busy: Math.round((100 * r.services.machineBusy) / (r.services.machineBusy + r.services.machineIdle)),
    hwmMb: r.hwmMb,
    dlq: r.dlq,
  }
}
