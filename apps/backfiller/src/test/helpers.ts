/** Shared by the backfiller's tests: config, Redis, stream reads, metric scraping. */
import { randomBytes } from 'node:crypto'
import { createRedis, decodeEvent, encodeRepoJob, type RedisClient, type StreamEvent } from '@firehose/streams'
import { parseNetworkList } from '@firehose/atproto'
import type { BackfillerConfig } from '../config.js'
import { waitFor as pollUntil } from '@firehose/testkit/wait'

export function redisUrl(): string {
  const url = process.env.REDIS_URL
  if (!url) throw new Error('REDIS_URL is not set: run the tests through vitest (its global setup starts Redis)')
  return url
}

export const newRedis = (): RedisClient => createRedis({ url: redisUrl() })

export const uniqueName = (prefix: string): string => `${prefix}_${randomBytes(6).toString('hex')}`

/** A did:plc-shaped DID unique to this run. */
export const randomDid = (): string => {
  const chars = 'abcdefghijklmnopqrstuvwxyz234567'
  let s = ''
  for (const b of randomBytes(24)) s += chars[b % 32]
  return `did:plc:${s}`
}

export function testConfig(overrides: Partial<BackfillerConfig> = {}): BackfillerConfig {
  const inStream = uniqueName('repo_backfill')
  return {
    redisUrl: redisUrl(),
    redisClusterNodes: [],
    logLevel: (process.env.TEST_LOG_LEVEL ?? 'silent') as BackfillerConfig['logLevel'],
    metricsPort: 0,
    metricsHost: '127.0.0.1',
    streamShards: 1,
    deprecatedVariables: [],
    consumer: uniqueName('backfiller'),
    plcUrl: 'http://127.0.0.1:1',
    syncStatePrefix: uniqueName('sync_state'),
    inStream,
    outStream: uniqueName('firehose_backfill'),
    group: 'repo_backfill_group',
    reposInFlight: 4,
    chunkSize: 100,
    httpTimeoutMs: 2000,
    maxRetries: 2,
    retryInitialMs: 50,
    retryMaxMs: 200,
    highWaterMark: 1_000_000,
    maxRepoBytes: 64 * 1024 * 1024,
    maxBytesInFlight: 64 * 1024 * 1024,
    hostRps: 1000,
    maxRateLimitWaitMs: 10_000,
    claimIdleMs: 1000,
    didCacheTtlMs: 60_000,
    trimIntervalMs: 1000,
    dlqRetentionMs: 0,
    dlqMaxLength: 0,
    verifyThreads: 1,
    didCacheMaxEntries: 10_000,
    // the fake network listens on 127.0.0.1, and nothing else may be contacted
    allowPrivateNetworks: parseNetworkList('127.0.0.1/32'),
    maxDocumentBytes: 64 * 1024,
    maxRateLimitWaits: 5,
    maxRateLimitTotalMs: 60_000,
    hostMaxSlots: 100,
    maxJsonPerCarByte: 8,
    minJsonBudgetBytes: 16 * 1024 * 1024,
    maxRepeatedRecords: 1000,
    maxCrashes: 2,
    ...overrides,
  }
}

export async function enqueue(redis: RedisClient, stream: string, did: string, host: string): Promise<string> {
  return (await redis.xadd(stream, '*', 'repo', encodeRepoJob({ did, host }))) ?? ''
}

export async function readEvents(redis: RedisClient, stream: string): Promise<StreamEvent[]> {
  const rows = (await redis.xrange(stream, '-', '+')) as [string, string[]][]
  const out: StreamEvent[] = []
  for (const [, fields] of rows) {
    const ev = decodeEvent(fields[1] ?? '')
    if (ev.type !== 'unknown') out.push(ev)
  }
  return out
}

export async function readDlq(redis: RedisClient, stream: string): Promise<Record<string, string>[]> {
  const rows = (await redis.xrange(`${stream}_dlq`, '-', '+')) as [string, string[]][]
  return rows.map(([, flat]) => {
    const o: Record<string, string> = {}
    for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i] as string] = flat[i + 1] as string
    return o
  })
}

/** Sum of a metric's samples whose labels include `labels`. */
export async function metric(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const ls = m[2] ?? ''
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(m[3])
  }
  return sum
}

export async function deleteStreams(redis: RedisClient, ...streams: string[]): Promise<void> {
  for (const s of streams) await redis.del(s, `${s}_dlq`)
}

/** Poll until `check` is true (no @firehose/testkit import: it loads dev-env, slow to collect). */
export const waitFor = (check: () => Promise<boolean> | boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> =>
  pollUntil(check, timeoutMs, what, 50)
