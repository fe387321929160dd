// pnpm bench ingester-verify: full sync-1.1 verification of real signed `#commit` frames
// (signature, rev, MST proof by inversion, prevData chain) by @firehose/atproto, against the
// reference implementation's way (@atproto/repo + @atproto/crypto, see baseline.mjs) verifying
// the same frames in the same run. Each variant runs in its own process, alternately
// (BENCH_RUNS times each, best kept: the machine is shared). Also prints the signature check
// alone (node:crypto vs @atproto/crypto vs @atcute/crypto) and the sync-state bytes per DID.
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { P256Keypair, Secp256k1Keypair, verifySignature as atprotoVerify } from '@atproto/crypto'
import { decodeFrame, signingKeyFromDidKey, verifyCommitMessage, verifySignature } from '@firehose/atproto'
import { ensureServices } from '../../scripts/services-env.mjs'
import { report } from '../lib/report.mjs'
import { baselineVerify } from './baseline.mjs'
import { generateCommits } from './commits.mjs'
import { measureSyncStateMemory } from './sync-state-memory.mjs'

// @atcute/crypto (what commit.ts uses today) from @firehose/atproto's dependencies
const { parseDidKey, verifySig: atcuteVerify } = await import(
  new URL('../../packages/atproto/node_modules/@atcute/crypto/dist/index.js', import.meta.url).href
)

const REPOS = Number(process.env.BENCH_REPOS ?? 20)
const SIZE = Number(process.env.BENCH_REPO_SIZE ?? 2000)
const PER_REPO = Number(process.env.BENCH_COMMITS_PER_REPO ?? 30)
const RUNS = Number(process.env.BENCH_RUNS ?? 2)
const fmt = (n) => Math.round(n).toLocaleString('en-US')

async function timeIt(fn, n, minMs = 1000) {
  let done = 0
  const t0 = performance.now()
  do {
    for (let i = 0; i < n; i++) await fn(i)
    done += n
  } while (performance.now() - t0 < minMs)
  return (done * 1000) / (performance.now() - t0)
}

async function signatureBench() {
  const rows = []
  for (const [curve, make] of [
    ['p256', () => P256Keypair.create()],
    ['secp256k1', () => Secp256k1Keypair.create()],
  ]) {
    const keys = await Promise.all(Array.from({ length: 20 }, make))
    const items = []
    for (let i = 0; i < 200; i++) {
      const key = keys[i % keys.length]
      const data = new TextEncoder().encode(`unsigned commit ${i} ${'x'.repeat(100)}`)
      items.push({ didKey: key.did(), data, sig: await key.sign(data) })
    }
    const ours = await timeIt((i) => {
      if (!verifySignature(signingKeyFromDidKey(items[i].didKey), items[i].data, items[i].sig)) throw new Error('ours refused')
    }, items.length)
    const atproto = await timeIt(async (i) => {
      if (!(await atprotoVerify(items[i].didKey, items[i].data, items[i].sig))) throw new Error('atproto refused')
    }, items.length)
    const parsed = await Promise.all(items.map((it) => parseDidKey(it.didKey)))
    const atcute = await timeIt(async (i) => {
      if (!(await atcuteVerify(parsed[i], items[i].sig, items[i].data))) throw new Error('atcute refused')
    }, items.length)
    rows.push({ curve, ours, atproto, atcute })
  }
  return rows
}

function runChild(variant, dir) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('./child.mjs', import.meta.url)), [variant, dir], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: ['--max-old-space-size=128'],
    })
    let result
    child.on('message', (m) => (result = m))
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`${variant} child exited with ${code}`))))
  })
}

async function main() {
  ensureServices(['REDIS_URL'])
  console.log(
    `generating ${REPOS} repos of ${SIZE} records (keys: ${process.env.BENCH_CURVES ?? 'p256,secp256k1'}) and ${PER_REPO} commits each with @atproto/repo…`,
  )
  const t0 = performance.now()
  const { frames, metas } = await generateCommits({ repos: REPOS, size: SIZE, perRepo: PER_REPO })
  const bytes = frames.reduce((n, f) => n + f.length, 0)
  const ops = metas.reduce((n, m) => n + m.ops, 0)
  console.log(
    `  ${fmt(frames.length)} frames, ${fmt(ops)} ops, ${Math.round(bytes / frames.length)} bytes a frame on average (${Math.round((performance.now() - t0) / 1000)} s)`,
  )

  // both verifiers agree: every frame verifies; tampered copies are refused by both
  const sample = Math.min(200, frames.length)
  for (let i = 0; i < sample; i++) {
    const last = { rev: metas[i].lastRev, data: new Uint8Array(Buffer.from(metas[i].lastData, 'base64')) }
    const frame = decodeFrame(frames[i])
    const ours = verifyCommitMessage(frame.body, { key: metas[i].didKey, last })
    const base = await baselineVerify(frames[i], metas[i])
    if (!ours.ok || base !== 'ok') throw new Error(`frame ${i}: ours ${ours.ok ? 'ok' : ours.reason}, baseline ${base}`)
    const gap = { ...metas[i], lastData: metas[(i + 1) % sample].lastData }
    const oursGap = verifyCommitMessage(frame.body, {
      key: metas[i].didKey,
      last: { ...last, data: new Uint8Array(Buffer.from(gap.lastData, 'base64')) },
    })
    if (oursGap.ok || (await baselineVerify(frames[i], gap)) === 'ok') throw new Error(`frame ${i}: a gap was not refused by both`)
  }
  console.log(`  both verifiers accept the first ${sample} frames and refuse them after a gap`)

  console.log('signature check alone (verifications/s):')
  for (const r of await signatureBench()) {
    console.log(
      `  ${r.curve.padEnd(9)}  node:crypto (ours) ${fmt(r.ours)}   @atproto/crypto ${fmt(r.atproto)}   @atcute/crypto ${fmt(r.atcute)}   ours/atproto ×${(r.ours / r.atproto).toFixed(1)}`,
    )
  }

  const dir = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'ingester-verify-'))
  const blob = Buffer.alloc(bytes + 4 * frames.length)
  let at = 0
  for (const f of frames) {
    blob.writeUInt32BE(f.length, at)
    blob.set(f, at + 4)
    at += 4 + f.length
  }
  writeFileSync(join(dir, 'frames.bin'), blob)
  writeFileSync(join(dir, 'metas.json'), JSON.stringify(metas))

  console.log('full verification (each variant in its own process, alternately):')
  const best = { ours: null, baseline: null }
  for (let r = 0; r < RUNS; r++) {
    for (const variant of ['ours', 'baseline']) {
      const res = await runChild(variant, dir)
      const verdicts = Object.entries(res.verdicts)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')
      console.log(
        `  ${variant.padEnd(8)} run ${r + 1}: ${fmt(res.framesPerSec)} frames/s, ${fmt(res.framesPerCpuSec)} frames per CPU-s, peak RSS ${res.peakRssMb} MB (${verdicts})`,
      )
      if (res.verdicts.ok !== frames.length) throw new Error(`${variant}: not every frame verified`)
      if (!best[variant] || res.framesPerSec > best[variant].framesPerSec)
        best[variant] = { ...res, framesPerCpuSec: Math.max(res.framesPerCpuSec, best[variant]?.framesPerCpuSec ?? 0) }
      else best[variant].framesPerCpuSec = Math.max(best[variant].framesPerCpuSec, res.framesPerCpuSec)
    }
  }
  rmSync(dir, { recursive: true, force: true })

  if (process.env.BENCH_SYNC_STATE_MEMORY !== '0') {
    const m = await measureSyncStateMemory(process.env.REDIS_URL)
    console.log(
      `sync state in Redis: ${m.memoryUsageBytesPerDid.toFixed(1)} bytes a DID (MEMORY USAGE; used_memory ${m.usedMemoryBytesPerDid.toFixed(1)}; ${m.encoding}, ${fmt(m.dids)} DIDs in ${fmt(m.buckets)} buckets) vs ${m.keyPerDidBytesPerDid.toFixed(1)} as a key a DID`,
    )
  }

  report({
    bench: 'ingester-verify',
    unit: 'frames/s',
    value: best.ours.framesPerSec,
    baseline: best.baseline.framesPerSec,
    peakRssMb: best.ours.peakRssMb,
    baselinePeakRssMb: best.baseline.peakRssMb,
    framesPerCpuSec: Math.round(best.ours.framesPerCpuSec),
    baselineFramesPerCpuSec: Math.round(best.baseline.framesPerCpuSec),
  })
}

await main()
