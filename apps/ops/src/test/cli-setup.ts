import type { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import { dlqStreamName } from '@firehose/streams'
import { buildCli, newRedis, uniqueName } from './cli.js'

/**
 * The set-up of a CLI test file: the CLI built before its tests, a Redis client, and `name(p)`
 * for a fresh stream name whose keys (its DLQ and anything under it) are deleted after them
 * (other keys: `deleteAfter`).
 */
export function cliTestSetup(): { redis: Redis; name: (prefix: string) => string; deleteAfter: (...keys: string[]) => void } {
  const redis = newRedis()
  const created: string[] = []
  beforeAll(() => {
    buildCli()
  })
  afterAll(async () => {
    const keys = [...created]
    for (const n of created) keys.push(...(await redis.keys(`${n}*`)))
    if (keys.length) await redis.del(...new Set(keys))
    await redis.quit()
  })
  const name = (p: string): string => {
    const n = uniqueName(p)
    created.push(n, dlqStreamName(n))
    return n
  }
  return { redis, name, deleteAfter: (...keys) => void created.push(...keys) }
}

/** `[field, value, …]` → object. */
export const fieldsOf = (flat: string[]): Record<string, string | undefined> =>
  Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]))
