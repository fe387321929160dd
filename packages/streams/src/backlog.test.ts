/**
 * The high-water mark counts what no consumer group has acked yet, per stream: acked entries
 * (trimmed or not) do not hold writers back, a full stream pauses only its own writers, and
 * over-mark entries (the relay's #sync jobs) are written even at the mark.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { oldestUnackedAges, readUnconsumed, unconsumedOf, type GroupInfo } from './groups.js'
import { StreamProducer } from './producer.js'
import { newRedis, uniqueName, waitFor } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

const group = (name: string, lag: number | null, pending: number): GroupInfo => ({
  name,
  lag,
  pending,
  lastDeliveredId: '0-0',
  consumers: 1,
})

/** Read and ack everything of the stream for `g`. */
async function consumeAll(stream: string, g: string): Promise<number> {
  const res = (await redis.xreadgroup('GROUP', g, 'c1', 'COUNT', 100_000, 'STREAMS', stream, '>')) as
    | [string, [string, string[]][]][]
    | null
  const ids = res?.[0]?.[1].map(([id]) => id) ?? []
  if (ids.length > 0) await redis.xack(stream, g, ...ids)
  return ids.length
}

describe('backlog of a stream', () => {
  it("is the fastest group's lag + pending; the length when Redis cannot tell a lag or there is no group", () => {
    expect(unconsumedOf(50, [])).toBe(50)
    expect(unconsumedOf(50, [group('a', 10, 5), group('stale', 40, 10)])).toBe(15)
    expect(unconsumedOf(50, [group('a', null, 5)])).toBe(50)
    expect(unconsumedOf(50, [group('a', null, 5), group('b', 0, 2)])).toBe(2)
  })

  it('is read from XINFO GROUPS: entries acked by a group are not counted, even while still in the stream', async () => {
    const stream = uniqueName('bl')
    for (let i = 0; i < 20; i++) await redis.xadd(stream, '*', 'n', String(i))
    expect(await readUnconsumed(redis, stream)).toEqual({ length: 20, unconsumed: 20 })
    await redis.xgroup('CREATE', stream, 'g', '0')
    expect(await readUnconsumed(redis, stream)).toEqual({ length: 20, unconsumed: 20 })
    await redis.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 5, 'STREAMS', stream, '>')
    expect((await readUnconsumed(redis, stream)).unconsumed).toBe(20)
    await consumeAll(stream, 'g')
    const pendingIds = ((await redis.xpending(stream, 'g', '-', '+', 10)) as [string][]).map((r) => r[0])
    await redis.xack(stream, 'g', ...pendingIds)
    expect(await readUnconsumed(redis, stream)).toEqual({ length: 20, unconsumed: 0 })
  })

  it("reports the age of each group's oldest unacked entry, so that a group that stopped reading shows", async () => {
    const stream = uniqueName('bl')
    const now = Date.now()
    await redis.xadd(stream, `${now - 60_000}-0`, 'n', 'old')
    await redis.xadd(stream, `${now - 30_000}-0`, 'n', 'newer')
    await redis.xgroup('CREATE', stream, 'live', '0')
    await redis.xgroup('CREATE', stream, 'stale', '0')
    await redis.xgroup('CREATE', stream, 'reading', '0')
    await consumeAll(stream, 'live')
    await redis.xreadgroup('GROUP', 'reading', 'c1', 'COUNT', 1, 'STREAMS', stream, '>')
    const ages = await oldestUnackedAges(redis, stream, now)
    expect(ages.get('live')).toBe(0)
    expect(ages.get('stale')).toBe(60)
    expect(ages.get('reading')).toBe(60)
    await redis.xack(stream, 'reading', `${now - 60_000}-0`)
    // nothing pending: its oldest unacked entry is the first one not delivered yet
    expect((await oldestUnackedAges(redis, stream, now)).get('reading')).toBe(30)
    expect((await oldestUnackedAges(redis, uniqueName('missing'))).size).toBe(0)
  })
})

describe('StreamProducer high-water mark by backlog, per stream', () => {
  it('does not pause a stream whose entries a group has acked, though they are still in it (the repo_backfill stall)', async () => {
    const stream = uniqueName('jobs')
    const p = new StreamProducer({ redis, batchSize: 5, flushIntervalMs: 5, highWaterMark: 10, pollIntervalMs: 20 })
    await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM')
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => p.add(stream, ['n', `${round}-${i}`])))
      expect(await consumeAll(stream, 'g')).toBe(10)
    }
    expect(await redis.xlen(stream)).toBe(50)
    expect(p.isFull(stream)).toBe(false)
    await p.close()
  })

  it('pauses only the stream at its mark; other streams and over-mark entries are written meanwhile', async () => {
    const full = uniqueName('full')
    const other = uniqueName('other')
    const p = new StreamProducer({ redis, batchSize: 5, flushIntervalMs: 5, highWaterMark: 10, pollIntervalMs: 20 })
    const events: string[] = []
    p.on('full', (s) => events.push(`full ${s}`))
    p.on('drain', (s) => events.push(`drain ${s}`))
    await redis.xgroup('CREATE', full, 'g', '0', 'MKSTREAM')
    const held = Array.from({ length: 20 }, (_, i) => p.add(full, ['n', String(i)]))
    await waitFor(() => p.atMark(full), 5000, 'stream at its mark')
    expect(p.isFull(full)).toBe(true)
    expect(p.isFull(other)).toBe(false)
    expect(p.isFull([other, full])).toBe(true)
    // another stream goes on (up to its own mark: it has no group, so its length counts)
    await Promise.all(Array.from({ length: 9 }, (_, i) => p.add(other, ['n', String(i)])))
    expect(await redis.xlen(other)).toBe(9)
    // an over-mark entry is written at once
    await p.add(full, ['n', 'sync'], { overMark: true })
    const lenAtMark = await redis.xlen(full)
    expect(lenAtMark).toBeLessThanOrEqual(11)
    const last = (await redis.xrevrange(full, '+', '-', 'COUNT', 1)) as [string, string[]][]
    expect(last[0]?.[1]).toEqual(['n', 'sync'])
    // the group catches up: the rest is written, nothing lost
    let consumed = 0
    while (consumed < 21) {
      consumed += await consumeAll(full, 'g')
      await new Promise((r) => setTimeout(r, 20))
    }
    await Promise.all(held)
    expect(await redis.xlen(full)).toBe(21)
    expect(p.isFull()).toBe(false)
    // only the full stream paused, and it ended writable
    expect(events.length).toBeGreaterThanOrEqual(2)
    expect(events.every((e, i) => e === `${i % 2 === 0 ? 'full' : 'drain'} ${full}`)).toBe(true)
    expect(events.length % 2).toBe(0)
    await p.close()
  })

  it('does not stop for a group that stopped reading while another keeps up', async () => {
    const stream = uniqueName('taken_over')
    await redis.xgroup('CREATE', stream, 'firehose_group', '0', 'MKSTREAM')
    await redis.xgroup('CREATE', stream, 'indexer_group', '0')
    const p = new StreamProducer({ redis, batchSize: 5, flushIntervalMs: 5, highWaterMark: 10, pollIntervalMs: 20 })
    for (let round = 0; round < 4; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => p.add(stream, ['n', `${round}-${i}`])))
      await consumeAll(stream, 'indexer_group')
    }
    expect(await redis.xlen(stream)).toBe(40)
    expect(p.isFull(stream)).toBe(false)
    await p.close()
  })
})
