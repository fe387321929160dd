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
  BACKFILLER_CONCURRENCY: concurrency,
  // one local server stands in for thousands of PDSes: the per-host limit is not what is measured
  BACKFILLER_HOST_RPS: '100000',
  ...(process.env.BACKFILLER_VERIFY_THREADS ? { BACKFILLER_VERIFY_THREADS: process.env.BACKFILLER_VERIFY_THREADS } : {}),
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
await bf.close()
await redis.del(inStream, outStream, `${inStream}_dlq`)
await redis.quit()
console.log(JSON.stringify({ verifier, records: totalRecords, repos: jobs.length, ms: Math.round(ms), recordsPerSec: Math.round((totalRecords * 1000) / ms), cpuMs: Math.round(cpuMs), recordsPerCpuSec: Math.round((totalRecords * 1000) / cpuMs), peakRssMb }))
process.exit(0)
