/**
 * What the consumer groups of a stream have left to do, from `XINFO GROUPS` (O(groups) on the
 * server): the backlog that the producers' high-water mark counts, and the age of each group's
 * oldest unacked entry that shows a group which stopped reading.
 */
import { replyToObject, type RedisClient } from './redis.js'

export interface GroupInfo {
  name: string
  /** Delivered to a consumer of the group and not acked yet. */
  pending: number
  /** Not yet delivered to the group (Redis ≥ 7); null when Redis cannot tell (Redis 6, or deletions it cannot count past). */
  lag: number | null
  lastDeliveredId: string
  consumers: number
}

/** `XINFO GROUPS`; [] when the stream does not exist. */
export async function readGroups(redis: RedisClient, stream: string): Promise<GroupInfo[]> {
  let reply: unknown[]
  try {
    reply = (await redis.xinfo('GROUPS', stream)) as unknown[]
  } catch (err) {
    if (err instanceof Error && /no such key/i.test(err.message)) return []
    throw err
  }
  return reply.map((g) => {
    const o = replyToObject(g)
    return {
      name: String(o.name),
      pending: Number(o.pending ?? 0),
      lag: o.lag === null || o.lag === undefined ? null : Number(o.lag),
      lastDeliveredId: String(o['last-delivered-id'] ?? '0-0'),
      consumers: Number(o.consumers ?? 0),
    }
  })
}

/**
 * Entries of the stream that no consumer group has acked yet: the smallest `lag + pending` over
 * the groups (the fastest group's backlog), or the whole length when the stream has no group.
 *
 * The fastest group, not the slowest: a group that stopped reading (an earlier worker's group
 * left behind after a take-over) must not stop ingestion for good. It still pins trimming, so the
 * stream grows: `*_stream_oldest_unacked_age_seconds` and its alert show it, and
 * `pnpm ops groups rm` removes it. A group whose lag Redis cannot tell (Redis 6, or an XDEL
 * after its last-delivered id) counts as the stream's length: an upper bound, which the workers'
 * trimming keeps close to the truth.
 */
export function unconsumedOf(length: number, groups: readonly GroupInfo[]): number {
  if (groups.length === 0) return length
  let min = Number.POSITIVE_INFINITY
  for (const g of groups) min = Math.min(min, g.lag === null ? length : g.lag + g.pending)
  return min
}

/** `unconsumedOf` read from Redis. */
export async function readUnconsumed(redis: RedisClient, stream: string): Promise<{ length: number; unconsumed: number }> {
  const [length, groups] = await Promise.all([redis.xlen(stream), readGroups(redis, stream)])
  return { length, unconsumed: unconsumedOf(length, groups) }
}

/** Milliseconds part of a stream id (auto ids are the time they were added). */
export const idTimeMs = (id: string): number => Number(id.split('-')[0])

/**
 * Age in seconds of the oldest entry each group of the stream has not acked: its oldest pending
 * entry, else its first entry not yet delivered; 0 when it has nothing left to do.
 */
export async function oldestUnackedAges(redis: RedisClient, stream: string, now = Date.now()): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const g of await readGroups(redis, stream)) {
    let oldest: string | null = null
    if (g.pending > 0) {
      const summary = (await redis.xpending(stream, g.name)) as [number, string | null, string | null, unknown]
      oldest = summary[1]
    }
    if (oldest === null && g.lag !== 0) {
      const next = (await redis.xrange(stream, `(${g.lastDeliveredId}`, '+', 'COUNT', 1)) as [string, string[]][]
      oldest = next[0]?.[0] ?? null
    }
    out.set(g.name, oldest === null ? 0 : Math.max(0, (now - idTimeMs(oldest)) / 1000))
  }
  return out
}
