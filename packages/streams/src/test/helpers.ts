import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'

export function redisUrl(): string {
  const url = process.env.REDIS_URL
  if (!url) throw new Error('REDIS_URL is not set: run the tests through scripts/test.sh or vitest (global setup starts Redis)')
  return url
}

export const newRedis = (): Redis => new Redis(redisUrl(), { maxRetriesPerRequest: null })

/** A fresh random stream name per test (STYLE.md: like bullmq's queue names). */
export const uniqueName = (prefix: string): string => `${prefix}_${randomBytes(6).toString('hex')}`

/** Poll until `check` is true, instead of sleeping a fixed time. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (Date.now() - start < timeoutMs) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

export async function pendingCount(redis: Redis, stream: string, group: string): Promise<number> {
  const res = (await redis.xpending(stream, group)) as [number, ...unknown[]]
  return Number(res[0])
}
