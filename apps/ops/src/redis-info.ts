import type { Cluster, Redis } from 'ioredis'
import { GROUPS, readGroups, replyToObject, STREAMS, type RedisClient } from '@firehose/streams'
import { OpsError } from './errors.js'

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

/** Each master of a Cluster, or the one Redis. */
export function nodesOf(redis: RedisClient): Redis[] {
  return 'nodes' in redis && typeof (redis as Cluster).nodes === 'function' && (redis as Cluster).isCluster
    ? (redis as Cluster).nodes('master')
    : [redis as Redis]
}

/** Keys matching `pattern` (of `type`, when given) on every node, sorted. */
export async function scanKeys(redis: RedisClient, pattern: string, type?: string): Promise<string[]> {
  const found = new Set<string>()
  for (const node of nodesOf(redis)) {
    let cursor = '0'
    do {
      const [next, keys] = type
        ? await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', type)
        : await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      for (const k of keys) found.add(k)
    } while (cursor !== '0')
  }
  return [...found].sort()
}

export interface StreamInfo {
  stream: string
  length: number
  groups: number
  firstId: string | null
  lastId: string | null
  lastGeneratedId: string | null
}

export async function streamInfo(redis: RedisClient, stream: string): Promise<StreamInfo | null> {
  let reply: unknown
  try {
    reply = await redis.xinfo('STREAM', stream)
  } catch (e) {
    if (/no such key/i.test(String(e))) return null
    throw e
  }
  const o = replyToObject(reply)
  const first = o['first-entry'] as [string, unknown] | null
  const last = o['last-entry'] as [string, unknown] | null
  return {
    stream,
    length: Number(o.length ?? 0),
    groups: Number(o.groups ?? 0),
    firstId: first ? first[0] : null,
    lastId: last ? last[0] : null,
    lastGeneratedId: (o['last-generated-id'] as string | undefined) ?? null,
  }
}

export interface GroupInfo {
  stream: string
  group: string
  consumers: number
  pending: number
  /** Entries not yet delivered (Redis ≥ 7); null when Redis cannot tell. */
  lag: number | null
  lastDeliveredId: string
}

export async function groupsOf(redis: RedisClient, stream: string): Promise<GroupInfo[]> {
  return (await readGroups(redis, stream)).map((g) => ({
    stream,
    group: g.name,
    consumers: g.consumers,
    pending: g.pending,
    lag: g.lag,
    lastDeliveredId: g.lastDeliveredId,
  }))
}

export interface ConsumerInfo {
  name: string
  pending: number
  /** Since the consumer last tried to read (XREADGROUP) or claim. */
  idleMs: number
  /** Since its last successful read (Redis ≥ 7.2); null on older Redis. */
  inactiveMs: number | null
}

export async function consumersOf(redis: RedisClient, stream: string, group: string): Promise<ConsumerInfo[]> {
  let reply: unknown[]
  try {
    reply = (await redis.xinfo('CONSUMERS', stream, group)) as unknown[]
  } catch (e) {
    throw groupError(e, stream, group)
  }
  return reply.map((c) => {
    const o = replyToObject(c)
    const inactive = num(o.inactive)
    return {
      name: String(o.name),
      pending: Number(o.pending ?? 0),
      idleMs: Number(o.idle ?? 0),
      inactiveMs: inactive === null || inactive < 0 ? null : inactive,
    }
  })
}

/** A NOGROUP / missing-key reply as an error naming the stream, group, and the groups that exist. */
export function groupError(e: unknown, stream: string, group: string): Error {
  const msg = String(e instanceof Error ? e.message : e)
  if (/NOGROUP|no such key/i.test(msg))
    return new OpsError(`stream "${stream}" has no consumer group "${group}" (see: ops groups ls ${stream})`)
  return e instanceof Error ? e : new Error(msg)
}

/** The group our workers use on a stream, as docs/design.md names them. */
export function defaultGroup(stream: string): string | undefined {
  const base = stream.replace(/:\{\d+\}$/, '')
  if (base === STREAMS.firehoseLive || base === STREAMS.firehoseBackfill) return GROUPS.indexer
  if (base === STREAMS.labelLive) return GROUPS.label
  if (base === STREAMS.repoBackfill) return GROUPS.repoBackfill
  return undefined
}

/** Entry fields `[k, v, …]` → object. */
export function fieldsObject(flat: string[] | null | undefined): Record<string, string> {
  const o: Record<string, string> = {}
  if (!flat) return o
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i] as string] = flat[i + 1] as string
  return o
}
