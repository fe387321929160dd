// One measured run in its own process (so that each variant's peak RSS is its own): reads the
// frames written by index.mjs, verifies them all (full verification) in passes until at least
// BENCH_SECONDS have gone by, and reports frames/s (wall clock), frames per CPU-second of this
// process (robust to a busy machine), peak RSS and the verdicts.
import { readFileSync } from 'node:fs'
import { decodeFrame, verifyCommitMessage } from '@firehose/atproto'
import { rssSampler } from '../lib/report.mjs'
import { baselineVerify } from './baseline.mjs'

const [variant, dir] = process.argv.slice(2)
const metas = JSON.parse(readFileSync(`${dir}/metas.json`, 'utf8'))
const blob = readFileSync(`${dir}/frames.bin`)
const frames = []
for (let at = 0; at < blob.length; ) {
  const n = blob.readUInt32BE(at)
  frames.push(blob.subarray(at + 4, at + 4 + n))
  at += 4 + n
}
const lasts = metas.map((m) => ({ rev: m.lastRev, data: new Uint8Array(Buffer.from(m.lastData, 'base64')) }))
const seconds = Number(process.env.BENCH_SECONDS ?? 4)

const ours = (i) => {
  const f = decodeFrame(frames[i])
  const v = verifyCommitMessage(f.body, { key: metas[i].didKey, last: lasts[i] })
  return v.ok ? 'ok' : v.reason
}

const sampler = rssSampler(20)
const verdicts = {}
let done = 0
const t0 = performance.now()
const cpu0 = process.cpuUsage()
do {
  for (let i = 0; i < frames.length; i++) {
    const v = variant === 'ours' ? ours(i) : await baselineVerify(frames[i], metas[i])
    if (done < frames.length) verdicts[v] = (verdicts[v] ?? 0) + 1
    done++
  }
} while (performance.now() - t0 < seconds * 1000)
const ms = performance.now() - t0
const cpu = process.cpuUsage(cpu0)
const cpuSeconds = (cpu.user + cpu.system) / 1e6
process.send({ framesPerSec: (done * 1000) / ms, framesPerCpuSec: done / cpuSeconds, frames: done, peakRssMb: sampler.peakMb(), verdicts })
sampler.stop()
