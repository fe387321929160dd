// decodeFrame + firehoseMessageToEvents throughput on typical one-op #commit frames.
// Usage: pnpm --filter @firehose/atproto build && node packages/atproto/bench/firehose.mjs [frames]
import { decodeFrame, firehoseMessageToEvents } from '../dist/index.js'
import { buildCommitFrame, generateRecords } from '../dist/testing.js'
import { Secp256k1PrivateKeyExportable } from '@atcute/crypto'

const N = Number(process.argv[2] ?? 20_000)
const key = await Secp256k1PrivateKeyExportable.createKeypair()
const records = generateRecords(200)
const frames = []
for (let i = 0; i < 200; i++) {
  const r = records[i]
  frames.push(await buildCommitFrame({ seq: i, did: 'did:plc:bench', key, ops: [{ action: 'create', ...r }] }))
}
const run = () => {
  let events = 0
  for (let i = 0; i < N; i++) {
    const f = decodeFrame(frames[i % frames.length])
    if (f.kind === 'message') {
      const r = firehoseMessageToEvents(f.type, f.body)
      if (r.kind === 'events') events += r.events.length
    }
  }
  return events
}
run()
const s = performance.now()
const events = run()
const ms = performance.now() - s
console.log(
  `${N} frames (${events} events) in ${ms.toFixed(0)} ms: ${((N / ms) * 1000).toFixed(0)} frames/s, avg frame ${(frames.reduce((a, f) => a + f.length, 0) / frames.length).toFixed(0)} bytes`,
)
