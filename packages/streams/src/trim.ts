import { readGroups, type GroupInfo } from './groups.js'
import type { RedisClient } from './redis.js'

/** `a` < `b` for stream ids `ms-seq`. */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-')
  const [bm = '0', bs = '0'] = b.split('-')
  const d = BigInt(am) - BigInt(bm)
  if (d !== 0n) return d < 0n ? -1 : 1
  const s = BigInt(as) - BigInt(bs)
  return s === 0n ? 0 : s < 0n ? -1 : 1
}

/** The id right after `id` (so `XTRIM MINID` keeps nothing at or before `id`… but keeps after). */
function nextId(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-')
  return `${ms}-${BigInt(seq) + 1n}`
}

/**
 * Trim from the stream only what EVERY consumer group has acked: for each group, entries below
 * its oldest pending entry and at or before its last-delivered id are done. `MAXLEN` trimming
 * would drop unacked entries (and other groups' data), and `XTRIM MINID <last-delivered>` of one
 * group drops in-flight entries: both were failures of earlier workers.
 * Returns the number of entries removed (0 when the stream has no group).
 */
export async function trimAcked(redis: RedisClient, stream: string): Promise<number> {
  let groups: GroupInfo[]
  try {
    groups = await readGroups(redis, stream)
  } catch {
    return 0
  }
  if (groups.length === 0) return 0
  let minId: string | null = null
  for (const g of groups) {
    let bound = nextId(g.lastDeliveredId)
    if (g.pending > 0) {
      const summary = (await redis.xpending(stream, g.name)) as [number, string | null, string | null, unknown]
      const oldest = summary[1]
      if (oldest && compareIds(oldest, bound) < 0) bound = oldest
    }
    if (minId === null || compareIds(bound, minId) < 0) minId = bound
  }
  if (minId === null || minId === '0-1') return 0
  return Number(await redis.xtrim(stream, 'MINID', minId))
}
