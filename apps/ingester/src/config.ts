/**
 * The ingester's configuration, read once from the environment (the only module that reads
 * `process.env`). A bad value stops the process with a ConfigError naming the variable.
 */
import { parseConfig, readCommon, type CommonConfig, type Env, type EnvReader } from '@firehose/service'
import { HostUrlError, hostBaseUrl, isValidDid, parseNetworkList, type NetworkList } from '@firehose/atproto'
import { STREAMS } from '@firehose/streams'

export interface IngesterConfig extends CommonConfig {
  /** special addresses (loopback, private…) that peers may still make us contact (listRepos) */
  allowPrivateNetworks: NetworkList
  /** Relays or PDSes, as websocket base URLs (`wss://host`, `ws://localhost:1234`). */
  relayHosts: string[]
  /** Labelers, as websocket base URLs. */
  labelerHosts: string[]
  /**
   * Labeler websocket base URL → the labeler's DID (`INGESTER_LABELER_HOSTS` entries are
   * `<did>@<host>`): only labels whose `src` is that DID, signed by its `#atproto_label` key, pass.
   */
  labelerDids: Map<string, string>
  /** PLC directory, for the labelers' DID documents and the repos' signing keys (did:web: its host). */
  plcUrl: string
  /** A label `cts` later than now + this is refused (clock skew allowed). */
  labelMaxFutureSkewMs: number
  /** Labels of one `#labels` frame past this: the frame is refused whole. */
  maxLabelsPerFrame: number
  /** A websocket message past this many bytes closes the connection (reconnect from the cursor). */
  maxFrameBytes: number
  highWaterMark: number
  /** Entries per XADD batch (one script call per stream): INGESTER_WRITE_BATCH. */
  writeBatch: number
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
  /** sync 1.1 verification of relays' `#commit` / `#sync` (verify/README in apps/ingester/README.md) */
  verify: VerifyMode
  /** key prefix of the per-DID sync state (shared with the backfiller's BACKFILLER_SYNC_STATE_PREFIX) */
  syncStatePrefix: string
  /** INGESTER_RESYNC_RETRY_SECS in ms (0: never): a repo still desynchronized this long after its resync gets one more */
  resyncRetryMs: number
}

export const VERIFY_MODES = ['full', 'signature', 'none'] as const
export type VerifyMode = (typeof VERIFY_MODES)[number]

/**
 * A host as written by an operator → websocket base URL: `https://` → `wss://`, `http://` →
 * `ws://`, a bare host name → `wss://`. Returns undefined when it is not a usable URL.
 */
export function toWsBase(host: string): string | undefined {
  try {
    return hostBaseUrl(host, 'ws')
  } catch (err) {
    if (err instanceof HostUrlError) return undefined
    throw err
  }
}

/** Websocket base URL → the http(s) base URL of the same host (for XRPC GETs such as listRepos). */
export const toHttpBase = (wsBase: string): string => hostBaseUrl(wsBase, 'http')

/**
 * `INGESTER_LABELER_HOSTS`: `<did>@<host>` entries. The DID is the labeler's own, as the operator
 * trusts it: it is never learnt from the peer (a labeler could otherwise name any DID, e.g.
 * another labeler's, and negate its labels). A bare host is refused.
 */
function labelers(r: EnvReader, name: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const entry of r.list(name, [])) {
    const at = entry.indexOf('@')
    const did = at > 0 ? entry.slice(0, at) : ''
    if (!isValidDid(did)) {
      r.problems.push({
        variable: name,
        message: `"${entry}" is not <labeler DID>@<host> (e.g. did:plc:ar7c4by46qjdydhdevvrndac@mod.bsky.app): labels are verified against that DID`,
      })
      continue
    }
    const ws = toWsBase(entry.slice(at + 1))
    if (ws === undefined) {
      r.problems.push({ variable: name, message: `"${entry}": "${entry.slice(at + 1)}" is not a host name or an http(s)/ws(s) URL` })
      continue
    }
    const known = out.get(ws)
    if (known !== undefined && known !== did)
      r.problems.push({ variable: name, message: `${ws} is listed with two DIDs (${known}, ${did})` })
    out.set(ws, did)
  }
  return out
}

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
    labelerHosts: [],
    labelerDids: labelers(r, 'INGESTER_LABELER_HOSTS'),
    plcUrl: r.url('PLC_URL', 'https://plc.directory', ['http:', 'https:']) ?? 'https://plc.directory',
    labelMaxFutureSkewMs: r.int('INGESTER_LABEL_MAX_FUTURE_SKEW_SECS', 300, { min: 0, max: 86_400 }) * 1000,
    maxLabelsPerFrame: r.int('INGESTER_MAX_LABELS_PER_FRAME', 10_000, { min: 1, max: 1_000_000 }),
    maxFrameBytes: r.int('INGESTER_MAX_FRAME_BYTES', 5 * 1024 * 1024, { min: 64 * 1024, max: 100 * 1024 * 1024 }),
    highWaterMark: r.int('INGESTER_HIGH_WATER_MARK', 1_000_000, { min: 1 }),
    writeBatch: r.int(r.renamed('INGESTER_WRITE_BATCH', 'INGESTER_BATCH_SIZE'), 500, { min: 1, max: 100_000 }),
    batchTimeoutMs: r.int('INGESTER_BATCH_TIMEOUT_MS', 100, { min: 1, max: 60_000 }),
    backfillRepos: r.bool('INGESTER_BACKFILL_REPOS', false),
    firehoseStream: r.str('INGESTER_FIREHOSE_STREAM', STREAMS.firehoseLive),
    labelStream: r.str('INGESTER_LABEL_STREAM', STREAMS.labelLive),
    repoStream: r.str('INGESTER_REPO_STREAM', STREAMS.repoBackfill),
    stallTimeoutMs: r.int('INGESTER_STALL_TIMEOUT_MS', 60_000, { min: 100 }),
    reconnectInitialMs: r.int('INGESTER_RECONNECT_INITIAL_MS', 1000, { min: 1 }),
    reconnectMaxMs: r.int('INGESTER_RECONNECT_MAX_MS', 30_000, { min: 1 }),
    cursorIntervalMs: r.int('INGESTER_CURSOR_INTERVAL_MS', 1000, { min: 10, max: 60_000 }),
    allowPrivateNetworks: r.parsed('ALLOW_PRIVATE_NETWORKS', '', parseNetworkList),
    verify: r.oneOf('INGESTER_VERIFY', 'full', VERIFY_MODES),
    syncStatePrefix: r.str('INGESTER_SYNC_STATE_PREFIX', 'sync_state'),
    resyncRetryMs: r.int('INGESTER_RESYNC_RETRY_SECS', 3600, { min: 0, max: 30 * 86_400 }) * 1000,
  }
  cfg.labelerHosts = [...cfg.labelerDids.keys()]
  if (cfg.relayHosts.length === 0 && cfg.labelerHosts.length === 0) {
    r.problems.push({ variable: 'INGESTER_RELAY_HOSTS', message: 'is required (or INGESTER_LABELER_HOSTS): nothing to ingest' })
  }
  if (cfg.reconnectMaxMs < cfg.reconnectInitialMs) {
    r.problems.push({
      variable: 'INGESTER_RECONNECT_MAX_MS',
      message: `must be >= INGESTER_RECONNECT_INITIAL_MS (${cfg.reconnectInitialMs})`,
    })
  }
  return cfg
}

/** Parse the ingester's config from `env` (default: the process environment). */
export function loadConfig(env: Env = process.env): IngesterConfig {
  return parseConfig(env, readConfig)
}
