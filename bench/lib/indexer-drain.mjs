// The real indexer process (`node apps/indexer/dist/main.js`, a child process) draining a
// pre-filled stream into a given database through pgbouncer, until its consumer group has no lag
// and nothing pending: wall clock, CPU of the indexer and of the services (service-cpu.mjs),
// the indexer's peak RSS and the entries it dead-lettered. Shared by bench/indexer and
// bench/indexer-scale; the database is the caller's (created, filled and dropped by it).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { cpuSeconds, serviceCpuMeter } from './service-cpu.mjs'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** `url` with its database name replaced by `name`. */
export const withDb = (url, name) => {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

/** `fn` with a client of database `dbName` (straight to Postgres, not pgbouncer), closed after. */
export async function withClient(dbName, fn) {
  const c = new pg.Client({ connectionString: withDb(process.env.DATABASE_DIRECT_URL, dbName) })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

/** One statement on the server's maintenance database (DATABASE_DIRECT_URL, not pgbouncer). */
export async function admin(text) {
  const c = new pg.Client({ connectionString: process.env.DATABASE_DIRECT_URL })
  await c.connect()
  try {
    return await c.query(text)
  } finally {
    await c.end()
  }
}

/**
 * The V8 flags the indexer runs with: NODE_OPTIONS of deploy/env/indexer.env (a heap cap below
 * the container's mem_limit, and the young generation size, which decides how much of the
 * indexer's CPU goes to GC; see apps/indexer/DATABASE.md). BENCH_HEAP_MB replaces the heap cap
 * (0: none), BENCH_NODE_OPTIONS adds flags.
 */
export function indexerNodeFlags(env = process.env) {
  const deploy = (/^NODE_OPTIONS=(.*)$/m.exec(readFileSync(join(root, 'deploy/env/indexer.env'), 'utf8'))?.[1] ?? '').trim()
  const heapMb = env.BENCH_HEAP_MB
  return [
    ...deploy.split(/\s+/).filter((f) => f && !(heapMb !== undefined && f.startsWith('--max-old-space-size='))),
    heapMb !== undefined && heapMb !== '0' ? `--max-old-space-size=${heapMb}` : '',
    env.BENCH_NODE_OPTIONS ?? '',
  ]
    .filter(Boolean)
    .join(' ')
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

/**
 * Pre-fill stream `bench_firehose_<tag>` with `events`, drain it with the indexer into database
 * `dbName` and return { ms, cpu, services, hwmMb, dlq }. `env`: more of the indexer's variables. The clock starts when the worker has
 * created its group (migrations done) and stops when every entry is delivered and acked. The
 * stream and its dead-letter stream are deleted at the end.
 */
export async function drainWithIndexer(events, { dbName, tag, indexerMain, nodeFlags, concurrency, batch, env = {} }) {
  const stream = `bench_firehose_${tag}`
  const group = 'indexer_group'
  const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null })
  let child
  try {
    for (let i = 0; i < events.length; i += 1000) {
      const p = redis.pipeline()
      for (const e of events.slice(i, i + 1000)) p.xadd(stream, '*', 'event', JSON.stringify(e))
      await p.exec()
    }
    const port = await freePort()
    child = spawn(process.execPath, [indexerMain], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        PATH: process.env.PATH,
        REDIS_URL: process.env.REDIS_URL,
        DATABASE_URL: withDb(process.env.DATABASE_URL, dbName),
        INDEXER_CONSUMER: `bench-${tag}`,
        INDEXER_STREAMS: stream,
        INDEXER_LABEL_STREAM: '',
        INDEXER_CONCURRENCY_PER_SHARD: concurrency,
        INDEXER_READ_BATCH: batch,
        ENABLE_DID_RESOLUTION: 'false',
        METRICS_PORT: String(port),
        LOG_LEVEL: 'warn',
        ...(process.env.DB_POOL_MAX_SIZE ? { DB_POOL_MAX_SIZE: process.env.DB_POOL_MAX_SIZE } : {}),
        ...(process.env.INDEXER_NOTIFICATIONS ? { INDEXER_NOTIFICATIONS: process.env.INDEXER_NOTIFICATIONS } : {}),
        NODE_OPTIONS: nodeFlags,
        ...env,
      },
    })
    const exited = new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`indexer exited with ${code}`))))
    exited.catch(() => {})
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
    return { ms, cpu, services, hwmMb, dlq }
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    }
    await redis.del(stream, `${stream}_dlq`)
    await redis.quit()
  }
}
