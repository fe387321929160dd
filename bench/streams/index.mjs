// Produced and consumed entries/s through packages/streams next to a raw ioredis pipeline
// baseline, both measured here, against the same local Redis. Entries are 1.5 KB.
import { Redis } from 'ioredis'
import { StreamProducer, StreamWorker } from '@firehose/streams'
import { rate, report, rssSampler } from '../lib/report.mjs'

const N = Number(process.env.BENCH_ENTRIES ?? 200_000)
const BATCH = 500
const payload = JSON.stringify({ type: 'create', seq: 1, did: 'did:plc:bench', text: 'x'.repeat(1400) })
const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null })
const rss = rssSampler()
const tag = Date.now().toString(36)

async function rawProduce(stream) {
  const t0 = performance.now()
  for (let i = 0; i < N; i += BATCH) {
    const p = redis.pipeline()
    for (let j = i; j < Math.min(N, i + BATCH); j++) p.xadd(stream, '*', 'event', payload)
    await p.exec()
  }
  return performance.now() - t0
}

async function rawConsume(stream) {
  await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM')
  const t0 = performance.now()
  let n = 0
  while (n < N) {
    const res = await redis.xreadgroup('GROUP', 'g', 'c', 'COUNT', BATCH, 'BLOCK', 100, 'STREAMS', stream, '>')
    if (!res) continue
    const ids = res[0][1].map(([id, f]) => {
      JSON.parse(f[1])
      return id
    })
    await redis.xack(stream, 'g', ...ids)
    n += ids.length
  }
  return performance.now() - t0
}

async function libProduce(stream) {
  const p = new StreamProducer({ redis, batchSize: BATCH, flushIntervalMs: 5, highWaterMark: N * 2 })
  const t0 = performance.now()
  let last
  for (let i = 0; i < N; i++) {
    if (p.isFull()) await p.waitUntilWritable()
    last = p.add(stream, ['event', payload])
  }
  await last
  await p.close()
  return performance.now() - t0
}

async function libConsume(stream) {
  let n = 0
  let resolve
  const done = new Promise((r) => (resolve = r))
  const w = new StreamWorker({
    redis,
    stream,
    group: 'g',
    consumer: 'c',
    batchSize: BATCH,
    concurrency: 4,
    blockMs: 100,
    handler: async (entries) => {
      for (const e of entries) JSON.parse(e.fields.event)
      n += entries.length
      if (n >= N) resolve()
    },
  })
  const t0 = performance.now()
  await w.start()
  await done
  await w.flushAcks()
  const ms = performance.now() - t0
  await w.close()
  return ms
}

const streams = [`bench_raw_${tag}`, `bench_lib_${tag}`]
try {
  console.log(`streams bench: ${N} entries of ${payload.length} bytes, batches of ${BATCH}`)
  const rawP = await rawProduce(streams[0])
  const rawC = await rawConsume(streams[0])
  const libP = await libProduce(streams[1])
  const libC = await libConsume(streams[1])
  const raw = rate(2 * N, rawP + rawC)
  const lib = rate(2 * N, libP + libC)
  console.log(`raw ioredis pipeline: produce ${rate(N, rawP)}/s, consume ${rate(N, rawC)}/s`)
  console.log(`@firehose/streams:    produce ${rate(N, libP)}/s, consume ${rate(N, libC)}/s`)
  console.log(`library keeps ${Math.round((lib / raw) * 100)}% of the raw throughput (produce + consume)`)
  report({
    bench: 'streams',
    unit: 'entries/s',
    value: lib,
    baseline: raw,
    peakRssMb: rss.peakMb(),
    produce: rate(N, libP),
    consume: rate(N, libC),
    rawProduce: rate(N, rawP),
    rawConsume: rate(N, rawC),
  })
} finally {
  await redis.del(...streams)
  rss.stop()
  await redis.quit()
}
