// `pnpm bench backfiller`: repos served from a local HTTP server (generated signed CARs of 1k,
// 10k and 100k records) are fetched, verified and emitted into Redis by a backfiller at
// concurrency 20 — once with our verifier (@firehose/atproto on @atcute) and once with
// @atproto/repo's verifyRepoCar path (the baseline), each in its own process so that peak RSS is
// the backfiller's alone. Last line: {"bench":"backfiller","unit":"records/s",...}.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSignedRepo } from '@firehose/atproto/testing'
import { report } from '../lib/report.mjs'
import { ensureServices } from '../../scripts/services-env.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const CONCURRENCY = process.env.BENCH_CONCURRENCY ?? '20'
// size → number of repos: 40×1k + 6×10k + 2×100k = 300k records
// BENCH_HEAP_MB=<n> runs our backfiller with a V8 heap cap (--max-old-space-size), as a deployment
// may give it. Default: none — its JS heap stays ~25 MB (the repos' bytes are Buffers), and a cap
// made V8 collect far more often on that external memory (~40% more CPU at 256 MB, measured).
// The baseline needs more than 1.5 GB and always runs uncapped.
const HEAP_MB = process.env.BENCH_HEAP_MB ?? '0'
const SEMI_MB = process.env.BENCH_SEMI_SPACE_MB ?? '0'
const MIX = (process.env.BENCH_MIX ?? '1000:40,10000:6,100000:2').split(',').map((s) => s.split(':').map(Number))

ensureServices(['REDIS_URL'])

// Generated CARs are cached across runs (generation, not verification, is the slow part here).
const dir = join(tmpdir(), `fw-bench-backfiller-${MIX.map(([s, n]) => `${s}x${n}`).join('-')}`)
const jobsFile = join(dir, 'jobs.json')
if (!existsSync(jobsFile)) {
  mkdirSync(dir, { recursive: true })
  const index = {}
  const jobs = []
  const t0 = performance.now()
  let k = 0
  for (const [size, n] of MIX) {
    for (let i = 0; i < n; i++) {
      const did = `did:plc:bench${String(k++).padStart(19, '0')}`
      const repo = await buildSignedRepo({ did, count: size })
      writeFileSync(join(dir, `${k}.car`), repo.car)
      index[did] = { file: `${k}.car`, signingKey: repo.signingKey }
      jobs.push({ did, records: size, bytes: repo.car.length })
    }
  }
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index))
  writeFileSync(jobsFile, JSON.stringify(jobs))
  console.log(`generated ${jobs.length} signed repos in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${dir}`)
}
const jobs = JSON.parse(readFileSync(jobsFile, 'utf8'))
const totalRecords = jobs.reduce((n, j) => n + j.records, 0)
const totalMb = jobs.reduce((n, j) => n + j.bytes, 0) / 1024 / 1024
console.log(`backfiller heap cap: ${HEAP_MB === '0' ? 'none' : `--max-old-space-size=${HEAP_MB}`} (baseline: none)`)
console.log(
  `repos: ${MIX.map(([s, n]) => `${n}×${s}`).join(' + ')} = ${totalRecords} records, ${totalMb.toFixed(0)} MB of CARs; concurrency ${CONCURRENCY}`,
)

const server = spawn(process.execPath, [join(here, 'serve.mjs'), dir], { stdio: ['ignore', 'pipe', 'inherit'] })
const serverUrl = await new Promise((resolve, reject) => {
  server.stdout.once('data', (d) => resolve(String(d).trim()))
  server.once('exit', (code) => reject(new Error(`server exited ${code}`)))
})

function run(verifier) {
  const flags = verifier === 'atcute' && HEAP_MB !== '0' ? [`--max-old-space-size=${HEAP_MB}`] : []
  // a heap cap also shrinks V8's young generation (more scavenges): BENCH_SEMI_SPACE_MB sets it back
  if (verifier === 'atcute' && SEMI_MB !== '0') flags.push(`--max-semi-space-size=${SEMI_MB}`)
  // BENCH_NODE_FLAGS: more node / V8 flags for our child (e.g. --trace-gc)
  if (verifier === 'atcute' && process.env.BENCH_NODE_FLAGS) flags.push(...process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean))
  // BENCH_CPU_PROF=<dir>: a V8 CPU profile of our backfiller child (open in Chrome DevTools, or bench/backfiller/profile-summary.mjs)
  if (verifier === 'atcute' && process.env.BENCH_CPU_PROF) flags.push('--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`)
  const out = execFileSync(process.execPath, [...flags, join(here, 'run.mjs'), verifier, serverUrl, jobsFile, CONCURRENCY], {
    encoding: 'utf8',
    env: process.env,
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 256 * 1024 * 1024,
  })
  const lines = out.trim().split('\n')
  const line = lines.pop()
  // anything else the child printed (e.g. --trace-gc in BENCH_NODE_FLAGS) goes to stderr
  if (lines.length > 0) console.error(lines.join('\n'))
  return JSON.parse(line)
}

// BENCH_ROUNDS=n: ours and the baseline alternately n times (the best of each is reported, every
// round is printed); BENCH_SKIP_BASELINE=1: ours only, for profiling (no ratio, no JSON line).
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1))
const paths = process.env.BENCH_SKIP_BASELINE ? ['atcute'] : ['atcute', 'atproto-repo']
const cpuUsPerRecord = (r) => ((r.cpuMs * 1000) / r.records).toFixed(1)
try {
  const best = {}
  for (let round = 1; round <= ROUNDS; round++) {
    for (const verifier of paths) {
      const load = loadavg()[0].toFixed(1)
      const r = run(verifier)
      if (!best[verifier] || r.recordsPerSec > best[verifier].recordsPerSec) best[verifier] = r
      const label = verifier === 'atcute' ? 'backfiller (@firehose/atproto verifier)' : 'baseline  (@atproto/repo verifyRepoCar)'
      console.log(
        `${ROUNDS > 1 ? `[round ${round}] ` : ''}${label}: ${r.records} records in ${(r.ms / 1000).toFixed(2)} s = ${r.recordsPerSec} records/s verified and emitted, peak RSS ${r.peakRssMb} MB; ${(r.cpuMs / 1000).toFixed(1)} s CPU = ${r.recordsPerCpuSec} records per CPU-second (${cpuUsPerRecord(r)} CPU-µs/record); load ${load} at start`,
      )
    }
  }
  console.log(
    `load average during the run: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${availableParallelism()} cores (other processes compete for the CPU: compare per CPU-second too)`,
  )
  if (paths.length === 2) {
    const ours = best.atcute
    const base = best['atproto-repo']
    console.log(
      `ratio: ${(ours.recordsPerSec / base.recordsPerSec).toFixed(2)}× wall clock, ${(ours.recordsPerCpuSec / base.recordsPerCpuSec).toFixed(2)}× per CPU-second   (goal: ≥ 40000 records/s, ≥ 4×, peak RSS < 500 MB)`,
    )
    report({
      bench: 'backfiller',
      unit: 'records/s',
      value: ours.recordsPerSec,
      baseline: base.recordsPerSec,
      peakRssMb: ours.peakRssMb,
      cpuUsPerRecord: Number(cpuUsPerRecord(ours)),
      baselineCpuUsPerRecord: Number(cpuUsPerRecord(base)),
    })
  }
} finally {
  server.kill('SIGTERM')
}
