// A consumer in its own process, for the SIGKILL / SIGTERM tests. Its "effect" is SADD of the
// entry id to `<stream>:done`, made before the worker acks. Prints "ready" once reading.
import { Redis } from 'ioredis'
import { StreamWorker } from '@firehose/streams'

const [stream, group, consumer, handlerMs, claimIdleMs] = process.argv.slice(2)
const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null })
const worker = new StreamWorker({
  redis,
  stream,
  group,
  consumer,
  batchSize: 5,
  concurrency: 2,
  blockMs: 200,
  claimIdleMs: Number(claimIdleMs),
  claimIntervalMs: 200,
  handler: async (entries) => {
    await redis.publish(`${stream}:started`, entries.map((e) => e.id).join(','))
    await new Promise((r) => setTimeout(r, Number(handlerMs)))
    await redis.sadd(`${stream}:done`, ...entries.map((e) => e.id))
  },
})
process.on('SIGTERM', () => {
  worker
    .close()
    .then(() => redis.quit())
    .then(() => process.exit(0))
})
await worker.start()
console.log('ready')
