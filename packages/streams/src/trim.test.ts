import { afterAll, describe, expect, it } from 'vitest'
import { compareIds, trimAcked } from './trim.js'
import { newRedis, uniqueName } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

describe('trimAcked', () => {
  it('orders ids numerically', () => {
    expect(compareIds('9-0', '10-0')).toBe(-1)
    expect(compareIds('10-2', '10-10')).toBe(-1)
    expect(compareIds('10-2', '10-2')).toBe(0)
  })

  it('removes only what every group has acked, never pending or undelivered entries', async () => {
    const s = uniqueName('t')
    const ids: string[] = []
    for (let i = 0; i < 10; i++) ids.push((await redis.xadd(s, '*', 'i', String(i))) as string)
    await redis.xgroup('CREATE', s, 'a', '0')
    await redis.xgroup('CREATE', s, 'b', '0')
    // a: read 6, acked all but #2; b: read 4, acked all
    await redis.xreadgroup('GROUP', 'a', 'c', 'COUNT', 6, 'STREAMS', s, '>')
    await redis.xack(s, 'a', ...ids.slice(0, 6).filter((_, i) => i !== 2))
    await redis.xreadgroup('GROUP', 'b', 'c', 'COUNT', 4, 'STREAMS', s, '>')
    await redis.xack(s, 'b', ...ids.slice(0, 4))
    expect(await trimAcked(redis, s)).toBe(2) // #0, #1: #2 is pending on a
    await redis.xack(s, 'a', ids[2]!)
    expect(await trimAcked(redis, s)).toBe(2) // #2, #3: b has not read #4
    const left = (await redis.xrange(s, '-', '+')) as [string, string[]][]
    expect(left.map(([id]) => id)).toEqual(ids.slice(4))
  })

  it('does nothing on a stream without groups', async () => {
    const s = uniqueName('t')
    await redis.xadd(s, '*', 'i', '1')
    expect(await trimAcked(redis, s)).toBe(0)
    expect(await redis.xlen(s)).toBe(1)
  })
})
