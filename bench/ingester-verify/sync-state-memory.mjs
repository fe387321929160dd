// Bytes per DID of the sync-state store in Redis: 100k did:plc DIDs written at the density of a
// 42M-DID deployment (~80 DIDs a bucket), measured with MEMORY USAGE over the bucket keys and with
// INFO used_memory; the same states as one key a DID for comparison.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { SyncStateStore, encodeSyncState } from '@firehose/streams'

const B32 = 'abcdefghijklmnopqrstuvwxyz234567'
const TID_CHARS = '234567abcdefghijklmnopqrstuvwxyz'
const tid = () => {
  let n = BigInt(Date.now()) * 1000n * 1024n + BigInt(Math.floor(Math.random() * 1e9))
  let s = ''
  for (let i = 0; i < 13; i++) {
    s = TID_CHARS[Number(n & 31n)] + s
    n >>= 5n
  }
  return s
}

export async function measureSyncStateMemory(redisUrl, count = 100_000, perBucket = 80) {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null })
  const prefix = `bench_ss_${randomBytes(4).toString('hex')}`
  const buckets = Math.ceil(count / perBucket)
  const store = new SyncStateStore({ redis, keyPrefix: prefix, buckets })
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1])
  const states = Array.from({ length: count }, () => ({
    did: `did:plc:${Array.from(randomBytes(24), (b) => B32[b & 31]).join('')}`,
    state: { status: 'active', rev: tid(), data: Uint8Array.from([1, 0x71, 0x12, 0x20, ...randomBytes(32)]) },
  }))
  const before = await usedMemory()
  for (let i = 0; i < count; i += 1000) await Promise.all(states.slice(i, i + 1000).map(({ did, state }) => store.set(did, state)))
  const after = await usedMemory()
  let usage = 0
  for (let b = 0; b < buckets; b += 500) {
    const keys = Array.from({ length: Math.min(500, buckets - b) }, (_, i) => `${prefix}:${b + i}`)
    const sizes = await Promise.all(keys.map((k) => redis.memory('USAGE', k, 'SAMPLES', '0')))
    usage += sizes.reduce((a, s) => a + Number(s ?? 0), 0)
  }
  const encoding = await redis.object('ENCODING', `${prefix}:0`)
  // the same values, one string key a DID
  const plainBefore = await usedMemory()
  for (let i = 0; i < count; i += 1000) {
    const p = redis.pipeline()
    for (const { did, state } of states.slice(i, i + 1000)) p.set(`${prefix}:k:${did}`, encodeSyncState(state))
    await p.exec()
  }
  const plainAfter = await usedMemory()
  // clean up
  for (let b = 0; b < buckets; b += 500)
    await redis.del(...Array.from({ length: Math.min(500, buckets - b) }, (_, i) => `${prefix}:${b + i}`))
  for (let i = 0; i < count; i += 1000) await redis.del(...states.slice(i, i + 1000).map(({ did }) => `${prefix}:k:${did}`))
  await redis.quit()
  return {
    dids: count,
    buckets,
    encoding,
    memoryUsageBytesPerDid: usage / count,
    usedMemoryBytesPerDid: (after - before) / count,
    keyPerDidBytesPerDid: (plainAfter - plainBefore) / count,
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await measureSyncStateMemory(process.env.REDIS_URL))
}
