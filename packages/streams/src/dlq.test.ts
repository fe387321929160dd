/** DLQ retention: a count bound applied as each dead letter is added, an age bound by trim. */
import { afterAll, describe, expect, it } from 'vitest'
import { trimDeadLetters, writeDeadLetter } from './dlq.js'
import { newRedis, uniqueName } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

const info = (i: number) => ({ error: `e${i}`, attempts: 1, consumer: 'c', sourceStream: 's', sourceId: `1-${i}` })

describe('dead-letter retention', () => {
  it('keeps at most maxLength entries, the newest, as each is written', async () => {
    const dlq = uniqueName('s_dlq')
    for (let i = 0; i < 12; i++) await writeDeadLetter(redis, { repo: String(i) }, info(i), dlq, 5)
    const kept = (await redis.xrange(dlq, '-', '+')) as [string, string[]][]
    expect(kept.map(([, f]) => f[1])).toEqual(['7', '8', '9', '10', '11'])
  })

  it('trims entries older than maxAgeMs and then to maxLength', async () => {
    const dlq = uniqueName('s_dlq')
    const now = Date.now()
    for (const [i, ageS] of [60, 50, 40, 5, 4, 3, 2].entries()) await redis.xadd(dlq, `${now - ageS * 1000}-${i}`, 'repo', String(ageS))
    expect(await trimDeadLetters(redis, dlq, { maxAgeMs: 30_000, maxLength: 0 }, now)).toBe(3)
    expect(await redis.xlen(dlq)).toBe(4)
    expect(await trimDeadLetters(redis, dlq, { maxAgeMs: 30_000, maxLength: 2 }, now)).toBe(2)
    const kept = (await redis.xrange(dlq, '-', '+')) as [string, string[]][]
    expect(kept.map(([, f]) => f[1])).toEqual(['3', '2'])
    expect(await trimDeadLetters(redis, dlq, { maxAgeMs: 0, maxLength: 0 }, now)).toBe(0)
  })
})
