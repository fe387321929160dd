import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { PermanentError } from './errors.js'
import { LEAVE_PENDING, StreamWorker, type StreamEntry } from './worker.js'
import { newRedis, pendingCount, uniqueName, waitFor } from './test/helpers.js'

const redis = newRedis()
const workers: StreamWorker[] = []
const children: ChildProcess[] = []
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()))
  for (const c of children.splice(0)) c.kill('SIGKILL')
})
afterAll(() => redis.quit())

async function fill(stream: string, n: number): Promise<string[]> {
  const pipe = redis.pipeline()
  for (let i = 0; i < n; i++) pipe.xadd(stream, '*', 'event', JSON.stringify({ i }))
  const res = await pipe.exec()
  return (res ?? []).map((r) => r[1] as string)
}

type WorkerOpts = ConstructorParameters<typeof StreamWorker>[0]
function worker(opts: Partial<WorkerOpts> & Pick<WorkerOpts, 'stream' | 'handler'>) {
  const w = new StreamWorker({ redis, group: 'g', consumer: 'c1', blockMs: 100, ackIntervalMs: 10, ...opts })
  workers.push(w)
  return w
}

describe('StreamWorker', () => {
  it('creates the group, handles every entry once and acks after the handler', async () => {
    const stream = uniqueName('s')
    const seen: string[] = []
    const w = worker({ stream, batchSize: 7, concurrency: 3, handler: async (es) => void seen.push(...es.map((e) => e.id)) })
    await w.start()
    const ids = await fill(stream, 100)
    await waitFor(async () => seen.length === 100 && (await pendingCount(redis, stream, 'g')) === 0)
    expect(seen.sort()).toEqual(ids.sort())
  })

  it('never acks an entry whose handler has not finished', async () => {
    const stream = uniqueName('s')
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let started = 0
    const w = worker({
      stream,
      handler: async () => {
        started++
        await gate
      },
    })
    await w.start()
    await fill(stream, 3)
    await waitFor(() => started > 0)
    await new Promise((r) => setTimeout(r, 300))
    await w.flushAcks()
    expect(await pendingCount(redis, stream, 'g')).toBe(3)
    release()
    await waitFor(async () => (await pendingCount(redis, stream, 'g')) === 0)
  })

  it('bounds concurrency: never more handler calls than allowed', async () => {
    const stream = uniqueName('s')
    let running = 0
    let max = 0
    let done = 0
    const w = worker({
      stream,
      batchSize: 2,
      concurrency: 3,
      handler: async (es) => {
        running++
        max = Math.max(max, running)
        await new Promise((r) => setTimeout(r, 20))
        running--
        done += es.length
      },
    })
    await w.start()
    await fill(stream, 60)
    await waitFor(() => done === 60)
    expect(max).toBeLessThanOrEqual(3)
    expect(max).toBeGreaterThan(1)
  })

  it('retries a failing entry while running and dead-letters it after maxDeliveries with its error', async () => {
    const stream = uniqueName('s')
    const attempts = new Map<string, number>()
    const w = worker({
      stream,
      maxDeliveries: 3,
      retryInitialMs: 20,
      retryMaxMs: 50,
      handler: async (es) =>
        es.map((e) => {
          attempts.set(e.id, (attempts.get(e.id) ?? 0) + 1)
          return JSON.parse(e.fields.event as string).i === 1 ? new Error('boom: always fails') : null
        }),
    })
    await w.start()
    const ids = await fill(stream, 3)
    const dlq = `${stream}_dlq`
    await waitFor(async () => (await redis.xlen(dlq)) === 1, 20_000, 'dead letter')
    const [first] = (await redis.xrange(dlq, '-', '+')) as [string, string[]][]
    const flat = first?.[1] ?? []
    const f: Record<string, string> = {}
    for (let i = 0; i < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!
    expect(f).toMatchObject({
      event: '{"i":1}',
      error: 'boom: always fails',
      attempts: '3',
      consumer: 'c1',
      source_stream: stream,
      source_id: ids[1],
    })
    expect(attempts.get(ids[1]!)).toBe(3)
    expect(attempts.get(ids[0]!)).toBe(1)
    await waitFor(async () => (await pendingCount(redis, stream, 'g')) === 0)
  })

  it('dead-letters a permanent error at once', async () => {
    const stream = uniqueName('s')
    let calls = 0
    const w = worker({
      stream,
      maxDeliveries: 5,
      handler: async () => {
        calls++
        throw new PermanentError('RepoNotFound')
      },
    })
    await w.start()
    await fill(stream, 1)
    await waitFor(async () => (await redis.xlen(`${stream}_dlq`)) === 1)
    expect(calls).toBe(1)
  })

  it('leaves an entry pending when its handler says LEAVE_PENDING, even on its last attempt', async () => {
    const stream = uniqueName('s')
    let calls = 0
    const w = worker({
      stream,
      maxDeliveries: 1,
      handler: async (es) => {
        calls++
        return es.map(() => LEAVE_PENDING)
      },
    })
    await w.start()
    await fill(stream, 1)
    await waitFor(() => calls === 1 && w.stats().calls === 0 && w.stats().inFlight === 0)
    await w.flushAcks()
    expect(await pendingCount(redis, stream, 'g')).toBe(1)
    expect(await redis.xlen(`${stream}_dlq`)).toBe(0)
    expect(w.stats().retrying).toBe(0)
  })

  it('takes an entry left pending again through reclaim, without a dead letter', async () => {
    const stream = uniqueName('s')
    const seen: number[] = []
    const w = worker({
      stream,
      maxDeliveries: 2,
      claimIdleMs: 100,
      claimIntervalMs: 100,
      handler: async (es) => es.map((e) => (seen.push(e.deliveries) === 1 ? LEAVE_PENDING : null)),
    })
    await w.start()
    await fill(stream, 1)
    await waitFor(async () => seen.length === 2 && (await pendingCount(redis, stream, 'g')) === 0)
    expect(seen).toEqual([1, 2])
    expect(await redis.xlen(`${stream}_dlq`)).toBe(0)
  })

  it('asks onExhausted about an entry found delivered too often: null acks it, an Error is its dead letter, undefined dead-letters as usual', async () => {
    const stream = uniqueName('s')
    const ids = await fill(stream, 3)
    // a consumer that died with them, each delivered twice (maxDeliveries 2)
    await redis.xgroup('CREATE', stream, 'g', '0')
    await redis.xreadgroup('GROUP', 'g', 'dead', 'COUNT', 3, 'STREAMS', stream, '>')
    await redis.xclaim(stream, 'g', 'dead', 0, ...ids)
    const asked: string[] = []
    const handled: string[] = []
    const verdicts = [null, new Error('its own reason'), undefined]
    const w = worker({
      stream,
      maxDeliveries: 2,
      claimIdleMs: 100,
      claimIntervalMs: 100,
      onExhausted: async (e) => {
        asked.push(e.id)
        return verdicts[ids.indexOf(e.id)]
      },
      handler: async (es) =>
        es.map((e) => {
          handled.push(e.id)
          return null
        }),
    })
    await new Promise((r) => setTimeout(r, 150))
    await w.start()
    await waitFor(
      async () => (await pendingCount(redis, stream, 'g')) === 0 && (await redis.xlen(`${stream}_dlq`)) === 2,
      10_000,
      'settled',
    )
    expect(asked.sort()).toEqual([...ids].sort())
    expect(handled).toEqual([])
    const errors = ((await redis.xrange(`${stream}_dlq`, '-', '+')) as [string, string[]][]).map(([, f]) => [
      f[f.indexOf('source_id') + 1],
      f[f.indexOf('error') + 1],
    ])
    expect(errors.sort()).toEqual(
      [
        [ids[1], 'its own reason'],
        [ids[2], 'delivered 3 times without being acked'],
      ].sort(),
    )
  })

  it('reads its own pending entries first after a restart', async () => {
    const stream = uniqueName('s')
    await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM')
    await fill(stream, 5)
    // an earlier incarnation of c1 read them and died
    await redis.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 5, 'STREAMS', stream, '>')
    const got: StreamEntry[] = []
    const w = worker({ stream, claimIdleMs: 600_000, handler: async (es) => void got.push(...es) })
    await w.start()
    await waitFor(() => got.length === 5)
    expect(got.every((e) => e.deliveries === 2)).toBe(true)
  })

  it('XDELs acked entries when deleteOnAck is set', async () => {
    const stream = uniqueName('s')
    const w = worker({ stream, deleteOnAck: true, handler: async () => undefined })
    await w.start()
    await fill(stream, 10)
    await waitFor(async () => (await redis.xlen(stream)) === 0)
  })

  it('loses no entry when a consumer is SIGKILLed mid-batch: another reclaims its entries', async () => {
    const stream = uniqueName('s')
    await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM')
    const ids = await fill(stream, 40)
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('./test/child-worker.mjs', import.meta.url)), stream, 'g', 'doomed', '400', '1000'],
      {
        env: process.env,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    children.push(child)
    await once(child.stdout!, 'data')
    // wait until the child has some entries in hand, then kill it without warning
    await waitFor(async () => (await pendingCount(redis, stream, 'g')) > 0)
    child.kill('SIGKILL')
    await once(child, 'exit')
    const doneBefore = await redis.scard(`${stream}:done`)
    expect(doneBefore).toBeLessThan(40)
    const w = worker({
      stream,
      consumer: 'survivor',
      claimIdleMs: 1000,
      claimIntervalMs: 200,
      handler: async (es) => {
        await redis.sadd(`${stream}:done`, ...es.map((e) => e.id))
      },
    })
    await w.start()
    await waitFor(
      async () => (await redis.scard(`${stream}:done`)) === 40 && (await pendingCount(redis, stream, 'g')) === 0,
      30_000,
      'all entries done',
    )
    expect((await redis.smembers(`${stream}:done`)).sort()).toEqual(ids.sort())
  })

  it('drains in-flight work on SIGTERM: the running batch finishes and is acked', async () => {
    const stream = uniqueName('s')
    await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM')
    const sub = newRedis()
    await sub.subscribe(`${stream}:started`)
    const started = new Promise<string>((resolve) => sub.once('message', (_c, m: string) => resolve(m)))
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('./test/child-worker.mjs', import.meta.url)), stream, 'g', 'term', '1500', '60000'],
      {
        env: process.env,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    children.push(child)
    await once(child.stdout!, 'data')
    await fill(stream, 3)
    const inHand = (await started).split(',')
    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
    const done = await redis.smembers(`${stream}:done`)
    for (const id of inHand) expect(done).toContain(id)
    const pending = (await redis.xpending(stream, 'g', '-', '+', 100)) as [string][]
    for (const id of inHand) expect(pending.map((p) => p[0])).not.toContain(id)
    await sub.quit()
  })
})
