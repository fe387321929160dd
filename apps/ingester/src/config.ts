/**
 * The ingester's configuration, read once from the environment (the only module that reads
 * `process.env`). A bad value stops the process with a ConfigError naming the variable.
 */
import { parseConfig, readCommon, type CommonConfig, type Env, type EnvReader } from '@firehose/service'
import { STREAMS } from '@firehose/streams'

export interface IngesterConfig extends CommonConfig {
  /** Relays or PDSes, as websocket base URLs (`wss://host`, `ws://localhost:1234`). */
  relayHosts: string[]
  /** Labelers, as websocket base URLs. */
  labelerHosts: string[]
  highWaterMark: number
  batchSize: number
  batchTimeoutMs: number
  backfillRepos: boolean
  firehoseStream: string
  labelStream: string
  repoStream: string
  /** A socket with no frame and no pong for this long is closed and reconnected. */
  stallTimeoutMs: number
  reconnectInitialMs: number
  reconnectMaxMs: number
  /** How often cursors are written (at most). */
  cursorIntervalMs: number
}

const SCHEMES = ['https:', 'wss:', 'http:', 'ws:']

/**
 * A host as written by an operator → websocket base URL: `https://` → `wss://`, `http://` →
 * `ws://`, a bare host name → `wss://`. Returns undefined when it is not a usable URL.
 */
export function toWsBase(host: string): string | undefined {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(host) ? host : `wss://${host}`
  let u: URL
  try {
    u = new URL(withScheme)
  } catch {
    return undefined
  }
  if (!SCHEMES.includes(u.protocol)) return undefined
  if (u.search || u.hash) return undefined
  const scheme = u.protocol === 'https:' || u.protocol === 'wss:' ? 'wss:' : 'ws:'
  return `${scheme}//${u.host}${u.pathname.replace(/\/+$/, '')}`
}

/** Websocket base URL → the http(s) base URL of the same host (for XRPC GETs such as listRepos). */
export const toHttpBase = (wsBase: string): string => wsBase.replace(/^ws(s?):/, 'http$1:')

function hosts(r: EnvReader, name: string): string[] {
  const out: string[] = []
  for (const h of r.list(name, [])) {
    const ws = toWsBase(h)
    if (ws === undefined) {
      r.problems.push({ variable: name, message: `"${h}" is not a host name or an http(s)/ws(s) URL` })
      continue
    }
    if (!out.includes(ws)) out.push(ws)
  }
  return out
}

export function readConfig(r: EnvReader): IngesterConfig {
  const common = readCommon(r)
  const cfg: IngesterConfig = {
    ...common,
    relayHosts: hosts(r, 'INGESTER_RELAY_HOSTS'),
    labelerHosts: hosts(r, 'INGESTER_LABELER_HOSTS'),
    highWaterMark: r.int('INGESTER_HIGH_WATER_MARK', 1_000_000, { min: 1 }),
    batchSize: r.int('INGESTER_BATCH_SIZE', 500, { min: 1, max: 100_000 }),
    batchTimeoutMs: r.int('INGESTER_BATCH_TIMEOUT_MS', 100, { min: 1, max: 60_000 }),
    backfillRepos: r.bool('INGESTER_BACKFILL_REPOS', false),
    firehoseStream: r.str('INGESTER_FIREHOSE_STREAM', STREAMS.firehoseLive),
    labelStream: r.str('INGESTER_LABEL_STREAM', STREAMS.labelLive),
    repoStream: r.str('INGESTER_REPO_STREAM', STREAMS.repoBackfill),
    stallTimeoutMs: r.int('INGESTER_STALL_TIMEOUT_MS', 60_000, { min: 100 }),
    reconnectInitialMs: r.int('INGESTER_RECONNECT_INITIAL_MS', 1000, { min: 1 }),
    reconnectMaxMs: r.int('INGESTER_RECONNECT_MAX_MS', 30_000, { min: 1 }),
    cursorIntervalMs: r.int('INGESTER_CURSOR_INTERVAL_MS', 1000, { min: 10, max: 60_000 }),
  }
  if (cfg.relayHosts.length === 0 && cfg.labelerHosts.length === 0) {
    r.problems.push({ variable: 'INGESTER_RELAY_HOSTS', message: 'is required (or INGESTER_LABELER_HOSTS): nothing to ingest' })
  }
  if (cfg.reconnectMaxMs < cfg.reconnectInitialMs) {
    r.problems.push({ variable: 'INGESTER_RECONNECT_MAX_MS', message: `must be >= INGESTER_RECONNECT_INITIAL_MS (${cfg.reconnectInitialMs})` })
  }
  return cfg
}

/** Parse the ingester's config from `env` (default: the process environment). */
export function loadConfig(env: Env = process.env): IngesterConfig {
  return parseConfig(env, readConfig)
}
