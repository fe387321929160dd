#!/usr/bin/env node
/**
 * The main job: the whole pipeline on one machine. Expects REDIS_URL and DATABASE_URL (started by
 * scripts/start.sh). With no INGESTER_RELAY_HOSTS it also runs an embedded AT Protocol network
 * (a real PDS and PLC from @atproto/dev-env) that keeps generating activity.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { Activity, LocalLabeler, startNetwork, type LocalNetwork } from '@firehose/testkit'
import { createApps, LOCAL_NETWORK, type AppName } from './apps.js'
import { readStatus, renderStatus, type PipelineStatus } from './status.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const env = process.env
const redisUrl = env.REDIS_URL
const databaseUrl = env.DATABASE_URL
if (!redisUrl || !databaseUrl) {
  console.error('pipeline: REDIS_URL and DATABASE_URL must be set (run bash scripts/start.sh)')
  process.exit(2)
}
const relays = (env.INGESTER_RELAY_HOSTS ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)
const log = (msg: string) => console.log(`[pipeline] ${msg}`)

let net: LocalNetwork | null = null
let activity: Activity | null = null
let labeler: LocalLabeler | null = null
if (relays.length === 0) {
  log('no INGESTER_RELAY_HOSTS: starting an embedded AT Protocol network (PDS + PLC, @atproto/dev-env)')
  net = await startNetwork()
  activity = new Activity(net.seed, Date.now() % 100_000)
  await activity.createAccounts(5)
  await activity.run(40)
  labeler = await LocalLabeler.start()
  log(
    `PDS ${net.pdsUrl}, PLC ${net.plcUrl}, labeler ${labeler.url}; ${activity.actors.length} accounts exist before the pipeline starts (reached by listRepos + backfill)`,
  )
}

const apps = await createApps({
  root,
  redisUrl,
  databaseUrl,
  relayHosts: net ? [net.pdsUrl] : relays,
  ...(labeler
    ? { labelerHosts: [labeler.hostEntry] }
    : env.INGESTER_LABELER_HOSTS
      ? { labelerHosts: env.INGESTER_LABELER_HOSTS.split(',') }
      : {}),
  plcUrl: net ? net.plcUrl : (env.PLC_URL ?? 'https://plc.directory'),
  ...(net ? { handleResolverUrl: net.pdsUrl } : env.HANDLE_RESOLVER_URL ? { handleResolverUrl: env.HANDLE_RESOLVER_URL } : {}),
  // the embedded network listens on 127.0.0.1 (localhost): exactly that, nothing wider
  ...(net
    ? { allowPrivateNetworks: LOCAL_NETWORK }
    : env.ALLOW_PRIVATE_NETWORKS
      ? { allowPrivateNetworks: env.ALLOW_PRIVATE_NETWORKS }
      : {}),
  logDir: join(root, '.local', 'logs'),
  logLevel: env.LOG_LEVEL ?? 'info',
})
const order: AppName[] = ['indexer', 'backfiller', 'ingester']
for (const name of order) {
  apps[name].start()
  await apps[name].waitReady()
  log(`${name.padEnd(10)} pid ${apps[name].child?.pid}  metrics ${apps[name].url}/metrics  log .local/logs/${name}.log`)
}

const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 })
let stopping = false
const activityLoop = (async () => {
  if (!activity) return
  let n = 0
  while (!stopping) {
    try {
      if (++n % 50 === 0) await activity.createAccounts(1)
      else if (n % 20 === 0 && labeler) {
        const posts = activity.actors.flatMap((a) => a.posts)
        const post = posts[Math.floor(Math.random() * posts.length)]
        if (post) await labeler.emit(post.uriStr, ['spam', 'nudity', 'gore'][n % 3] as string)
      } else await activity.step()
    } catch (err) {
      log(`activity step failed: ${(err as Error).message}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
})()

let prev: PipelineStatus | null = null
const tty = process.stdout.isTTY
const statusTimer = setInterval(() => {
  readStatus(redis, pool, apps.indexer.url)
    .then((s) => {
      const text = renderStatus(s, prev)
      prev = s
      if (tty) process.stdout.write(`\x1b[2J\x1b[H${text}\n\nCtrl-C stops everything.\n`)
      else console.log(text)
    })
    .catch((err: unknown) => log(`status: ${(err as Error).message}`))
}, 2000)

let shuttingDown = false
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return
  shuttingDown = true
  log(`${signal}: stopping`)
  stopping = true
  clearInterval(statusTimer)
  await activityLoop
  for (const name of ['ingester', 'backfiller', 'indexer'] as AppName[]) {
    const code = await apps[name].stop('SIGTERM')
    log(`${name} stopped (exit ${code})`)
    apps[name].close()
  }
  await net?.close()
  await labeler?.close()
  await pool.end()
  redis.disconnect()
  process.exit(0)
}
process.on('SIGINT', () => void shutdown('SIGINT'))
process.on('SIGTERM', () => void shutdown('SIGTERM'))
for (const name of order) {
  apps[name].child?.on('exit', (code, sig) => {
    if (!shuttingDown) log(`${name} exited unexpectedly (code ${code}, signal ${sig}); see .local/logs/${name}.log`)
  })
}
