// Child process of the bench: one backfiller (in-process, `startBackfiller`) with the chosen
// verifier backfills every job, from the local server into Redis. Prints one JSON line:
// { verifier, records, repos, ms, recordsPerSec, peakRssMb }.
// argv: <verifier: atcute|atproto-repo> <server url> <jobs.json> <concurrency>
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import { loadConfig, startBackfiller } from '@firehose/backfiller'
import { rssSampler } from '../lib/report.mjs'
import { atprotoRepoVerifier } from './atproto-repo-verifier.mjs'

const [verifier, serverUrl, jobsFile, concurrency] = process.argv.slice(2)
const jobs = JSON.parse(readFileSync(jobsFile, 'utf8'))
const totalRecords = jobs.reduce((n, j) => n + j.records, 0)
const tag = randomBytes(4).toString('hex')
const inStream = `bench_repo_backfill_${tag}`
const outStream = `bench_firehose_backfill_${tag}`
const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null })

const config = loadConfig({
  REDIS_URL: process.env.REDIS_URL,
  LOG_LEVEL: 'warn',
  PLC_URL: serverUrl,
  BACKFILLER_CONSUMER: `bench-${tag}`,
  BACKFILLER_IN_STREAM: inStream,
  BACKFILLER_OUT_STREAM: outStream,
  BACKFILLER_METRICS_PORT: '0',
  BACKFILLER_REPOS_IN_FLIGHT: concurrency,
  // one local server stands in for thousands of PDSes: the per-host limit is not what is measured
  BACKFILLER_HOST_RPS: '100000',
  BACKFILLER_HOST_MAX_SLOTS: concurrency,
  // the bench's server listens on 127.0.0.1
  ALLOW_PRIVATE_NETWORKS: '127.0.0.1/32',
  // tuning experiments: these pass through when set
  ...Object.fromEntries(
    ['BACKFILLER_VERIFY_THREADS', 'BACKFILLER_MAX_BYTES_IN_FLIGHT', 'BACKFILLER_CHUNK_SIZE']
      .filter((k) => process.env[k])
      .map((k) => [k, process.env[k]]),
  ),
})
// DID documents cached by an earlier run point at an earlier server port
await redis.del(...jobs.map((j) => `backfiller:did:${j.did}`))
const rss = rssSampler(20)
const bf = await startBackfiller(config, verifier === 'atproto-repo' ? { verify: atprotoRepoVerifier } : {})
rss.reset()
const t0 = performance.now()
const cpu0 = process.cpuUsage()
const p = redis.pipeline()
for (const j of jobs) p.xadd(inStream, '*', 'repo', JSON.stringify({ did: j.did, host: serverUrl }))
await p.exec()
const want = totalRecords + jobs.length
for (;;) {
  const [len, dlq] = await Promise.all([redis.xlen(outStream), redis.xlen(`${inStream}_dlq`)])
  if (dlq > 0) throw new Error(`${dlq} repos dead-lettered: ${JSON.stringify(await redis.xrange(`${inStream}_dlq`, '-', '+', 'COUNT', 1))}`)
  if (len >= want) break
  await new Promise((r) => setTimeout(r, 20))
}
const ms = performance.now() - t0
const cpu = process.cpuUsage(cpu0)
const cpuMs = (cpu.user + cpu.system) / 1000
const peakRssMb = rss.peakMb()
// BENCH_PHASES=1: where the repos' time went (sums over all repos of the backfiller's histograms)
if (process.env.BENCH_PHASES) {
  const text = await (await fetch(`http://127.0.0.1:${bf.port}/metrics`)).text()
  const sum = (name) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}_sum`))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0)
  const phases = Object.fromEntries(
    [
      'backfiller_fetch_seconds',
      'backfiller_verify_seconds',
      'backfiller_stream_write_batch_seconds',
      'backfiller_stream_handler_seconds',
    ].map((n) => [n, Number(sum(n).toFixed(2))]),
  )
  console.error(`phases (s, summed over repos / batches): ${JSON.stringify(phases)}`)
}
await bf.close()
await redis.del(inStream, outStream, `${inStream}_dlq`)
await redis.quit()
console.log(
  JSON.stringify({
    verifier,
    records: totalRecords,
    repos: jobs.length,
    ms: Math.round(ms),
    recordsPerSec: Math.round((totalRecords * 1000) / ms),
    cpuMs: Math.round(cpuMs),
    recordsPerCpuSec: Math.round((totalRecords * 1000) / cpuMs),
    peakRssMb,
  }),
)
process.exit(0)
