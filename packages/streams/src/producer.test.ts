import { afterAll, describe, expect, it } from 'vitest'
import { StreamProducer } from './producer.js'
import { CursorStore } from './cursor.js'
import { newRedis, uniqueName, waitFor } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

describe('StreamProducer', () => {
  it.each(['script', 'pipeline'] as const)(
    'writes every entry in order, batched, and resolves add() once the entry is in Redis (%s mode)',
    async (mode) => {
      const stream = uniqueName('p')
      const p = new StreamProducer({ redis, batchSize: 50, flushIntervalMs: 20, mode })
      let last: Promise<void> = Promise.resolve()
      for (let i = 0; i < 1234; i++) last = p.add(stream, ['event', String(i)])
      await last
      expect(await redis.xlen(stream)).toBe(1234)
      const all = (await redis.xrange(stream, '-', '+')) as [string, string[]][]
      expect(all.map(([, f]) => Number(f[1]))).toEqual([...Array(1234).keys()])
      // a partial batch is written by the timer
      await p.add(stream, ['event', 'tail'])
      expect(await redis.xlen(stream)).toBe(1235)
      await p.close()
    },
  )

  it.each(['packed', 'argument list', 'pipeline'] as const)(
    'writes Buffer and string values of every size byte for byte (%s)',
    async (how) => {
      const stream = uniqueName('p')
      const p = new StreamProducer({ redis, batchSize: 7, flushIntervalMs: 5, mode: how === 'pipeline' ? 'pipeline' : 'script' })
      if (how === 'argument list') (p as unknown as { usePacked: boolean }).usePacked = false
      const values: (string | Buffer)[] = [
        '',
        'a',
        'x'.repeat(31),
        'y'.repeat(32),
        'é🦋\n"\\',
        'z'.repeat(65535),
        'w'.repeat(65536),
        Buffer.from([0, 1, 255, 0xc0, 0x80]),
        Buffer.alloc(100_000, 7),
        Buffer.from('{"a":1}'),
      ]
      const entries = values.map((v, i) => (i % 3 === 0 ? ['event', v] : ['event', v, 'n', String(i), 'more', v]))
      entries.push(Array.from({ length: 40 }, (_, i) => String(i)))
      await Promise.all(entries.map((e) => p.add(stream, e)))
      const all = (await redis.xrangeBuffer(stream, '-', '+')) as [Buffer, Buffer[]][]
      expect(all.length).toBe(entries.length)
      all.forEach(([, fields], i) => {
        expect(fields.map((f) => f.toString('hex'))).toEqual(entries[i]!.map((f) => Buffer.from(f as string).toString('hex')))
      })
      await p.close()
    },
  )

  it('stops at the high-water mark without dropping anything and resumes when the stream drains', async () => {
    const stream = uniqueName('p')
    const hwm = 1000
    const p = new StreamProducer({ redis, batchSize: 100, flushIntervalMs: 10, highWaterMark: hwm, pollIntervalMs: 20, maxBuffered: 200 })
    let fullEvents = 0
    p.on('full', () => fullEvents++)
    let maxLen = 0
    let produced = 0
    const total = 3000
    // the source: reads only while the producer is writable
    const source = (async () => {
      for (let i = 0; i < total; i++) {
        await p.waitUntilWritable()
        void p.add(stream, ['event', String(i)])
        produced++
      }
      await p.flush()
    })()
    await waitFor(() => p.isFull(), 10_000, 'producer full')
    // the stream stops growing near the mark
    for (let i = 0; i < 10; i++) {
      maxLen = Math.max(maxLen, await redis.xlen(stream))
      await new Promise((r) => setTimeout(r, 30))
    }
    expect(maxLen).toBeGreaterThanOrEqual(hwm)
    expect(maxLen).toBeLessThanOrEqual(hwm + 100)
    expect(produced).toBeLessThan(hwm + 100 + 200 + 1)
    expect(fullEvents).toBeGreaterThan(0)
    // a consumer drains the stream: the producer resumes and nothing is lost
    let consumed = 0
    const seen = new Set<string>()
    while (consumed < total) {
      const batch = (await redis.xrange(stream, '-', '+', 'COUNT', 500)) as [string, string[]][]
      if (batch.length === 0) {
        await new Promise((r) => setTimeout(r, 10))
        continue
      }
      for (const [, f] of batch) seen.add(f[1]!)
      await redis.xdel(stream, ...batch.map(([id]) => id))
      consumed += batch.length
      maxLen = Math.max(maxLen, await redis.xlen(stream))
    }
    await source
    expect(seen.size).toBe(total)
    expect(maxLen).toBeLessThanOrEqual(hwm + 100)
    await p.close()
  })

  it.each(['script', 'pipeline'] as const)('keeps entries and retries while Redis refuses writes (%s mode)', async (mode) => {
    const stream = uniqueName('p')
    // a key of the wrong type makes XADD fail until it is removed
    await redis.set(stream, 'not a stream')
    const p = new StreamProducer({ redis, batchSize: 10, flushIntervalMs: 5, retryInitialMs: 20, retryMaxMs: 50, mode })
    const written = p.add(stream, ['event', 'x'])
    await new Promise((r) => setTimeout(r, 200))
    await redis.del(stream)
    await written
    expect(await redis.xlen(stream)).toBe(1)
    await p.close()
  })
})

describe('CursorStore', () => {
  it('stores per-host cursors under <stream>:cursor:<host> without the scheme', async () => {
    const stream = uniqueName('c')
    const c = new CursorStore(redis, stream)
    await c.set('https://bsky.network/', 42)
    expect(await redis.get(`${stream}:cursor:bsky.network`)).toBe('42')
    expect(await c.getNumber('wss://bsky.network')).toBe(42)
    expect(await c.get('other.host')).toBeNull()
  })
})
