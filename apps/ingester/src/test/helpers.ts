import { randomBytes } from 'node:crypto'
import { createLogger, type Logger } from '@firehose/service'
import { createRedis, decodeEvent, type RedisClient, type StreamEvent } from '@firehose/streams'
import { decodeFrame, encodeMessageFrame } from '@firehose/atproto'
import { readConfig, type IngesterConfig } from '../config.js'
import { parseConfig } from '@firehose/service'
import { waitFor as pollUntil } from '@firehose/testkit/wait'

export function redisUrl(): string {
  const url = process.env.REDIS_URL
  if (!url) throw new Error('REDIS_URL is not set: run the tests through vitest (global setup starts Redis)')
  return url
}

export const newRedis = (): RedisClient => createRedis({ url: redisUrl() })

export const uniqueName = (prefix: string): string => `${prefix}_${randomBytes(6).toString('hex')}`

export const quietLogger = (): Logger => createLogger('ingester-test', (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent')

/** A config for one test: unique stream names, quick reconnects, no metrics port conflicts. */
export function testConfig(env: Record<string, string>): IngesterConfig {
  const id = randomBytes(4).toString('hex')
  return parseConfig(
    {
      REDIS_URL: redisUrl(),
      METRICS_PORT: '0',
      INGESTER_FIREHOSE_STREAM: `firehose_live_${id}`,
      INGESTER_LABEL_STREAM: `label_live_${id}`,
      INGESTER_REPO_STREAM: `repo_backfill_${id}`,
      INGESTER_RECONNECT_INITIAL_MS: '50',
      INGESTER_RECONNECT_MAX_MS: '500',
      INGESTER_CURSOR_INTERVAL_MS: '100',
      INGESTER_BATCH_TIMEOUT_MS: '20',
      // the local network (dev-env, fake relays) listens on 127.0.0.1, and nothing else may be contacted
      ALLOW_PRIVATE_NETWORKS: '127.0.0.1/32',
      // synthetic frames are not signed: tests of a real PDS set full (and PLC_URL)
      INGESTER_VERIFY: 'none',
      INGESTER_SYNC_STATE_PREFIX: `sync_state_${id}`,
      ...env,
    },
    readConfig,
  )
}

/** Every entry of a stream, as `[id, fields]`. */
export async function readStream(redis: RedisClient, stream: string): Promise<[string, Record<string, string>][]> {
  const out: [string, Record<string, string>][] = []
  let start = '-'
  for (;;) {
    const batch = (await redis.xrange(stream, start, '+', 'COUNT', 5000)) as [string, string[]][]
    for (const [id, flat] of batch) {
      const o: Record<string, string> = {}
      for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i] as string] = flat[i + 1] as string
      out.push([id, o])
    }
    if (batch.length < 5000) return out
    start = `(${batch[batch.length - 1]![0]}`
  }
}

export async function readEvents(redis: RedisClient, stream: string): Promise<StreamEvent[]> {
  return (await readStream(redis, stream)).map(([, f]) => decodeEvent(f.event ?? '') as StreamEvent)
}

/** The same frame with another seq (re-encoded). */
export function withSeq(frame: Uint8Array, seq: number): Uint8Array {
  const f = decodeFrame(frame)
  if (f.kind !== 'message') throw new Error('not a message frame')
  return encodeMessageFrame(f.type, { ...f.body, seq })
}

/** Value of a metric sample in a registry's text output. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  let found = false
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:]+)(\{([^}]*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const ls = Object.fromEntries(
      (m[3] ?? '')
        .split(',')
        .filter(Boolean)
        .map((kv) => {
          const [k, v] = kv.split('=')
          return [k, JSON.parse(v ?? '""') as string]
        }),
    )
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) {
      sum += Number(m[4])
      found = true
    }
  }
  return found ? sum : 0
}

/** Poll until `check` is true, instead of sleeping a fixed time. */
export const waitFor = (check: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> =>
  pollUntil(check, timeoutMs, what, 25)
