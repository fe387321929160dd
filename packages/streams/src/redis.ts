import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis'

/** A single Redis or a Redis Cluster: the library works against both. */
export type RedisClient = Redis | Cluster

export interface RedisConnectOptions {
  url: string
  /** `host:port` seed nodes; when non-empty a Cluster client is created instead. */
  clusterNodes?: string[]
  /** Name shown in CLIENT LIST. */
  connectionName?: string
}

const baseOptions: RedisOptions = {
  // Commands wait through a reconnect instead of failing after a fixed number of tries:
  // callers decide how long to wait (the producer and worker retry with backoff).
  maxRetriesPerRequest: null,
  enableAutoPipelining: false,
  retryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
}

export function createRedis(opts: RedisConnectOptions): RedisClient {
  if (opts.clusterNodes && opts.clusterNodes.length > 0) {
    const nodes: ClusterNode[] = opts.clusterNodes.map((n) => {
      const [host, port] = n.split(':')
      return { host: host ?? '127.0.0.1', port: Number(port ?? 6379) }
    })
    return new Cluster(nodes, {
      redisOptions: { ...baseOptions, ...(opts.connectionName ? { connectionName: opts.connectionName } : {}) },
      clusterRetryStrategy: (times) => Math.min(100 * 2 ** times, 2000),
    })
  }
  return new Redis(opts.url, { ...baseOptions, ...(opts.connectionName ? { connectionName: opts.connectionName } : {}) })
}

/** `PING` with a timeout: readiness checks. */
export async function pingRedis(redis: RedisClient, timeoutMs = 1000): Promise<boolean> {
  if (redis.status !== 'ready') return false
  let timer: NodeJS.Timeout | undefined
  try {
    const res = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), timeoutMs)
      }),
    ])
    return res === 'PONG'
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}

/** Flat `[k, v, k, v]` reply → object. */
export function fieldsToObject(flat: string[]): Record<string, string> {
  const o: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i] as string] = flat[i + 1] as string
  return o
}

/** A `[k, v, k, v]` reply of XINFO (STREAM, GROUPS' items, CONSUMERS' items) → object; values as Redis returned them. */
export function replyToObject(reply: unknown): Record<string, unknown> {
  const arr = reply as unknown[]
  const o: Record<string, unknown> = {}
  for (let i = 0; i + 1 < arr.length; i += 2) o[String(arr[i])] = arr[i + 1] ?? null
  return o
}

export function objectToFields(o: Record<string, string>): string[] {
  const flat: string[] = []
  for (const k in o) flat.push(k, o[k] as string)
  return flat
}

export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err))
