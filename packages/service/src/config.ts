/**
 * Typed configuration from environment variables. Each app declares its variables once with
 * these readers; `parseConfig` collects every bad value and throws one ConfigError naming them,
 * so the process stops at start-up with a message an operator can act on.
 */
import { isIP } from 'node:net'

export type Env = Record<string, string | undefined>

export class ConfigError extends Error {
  override name = 'ConfigError'
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.variable}: ${p.message}`).join('; ')}`)
  }
}

/** An old variable name that was set: `variable` was renamed `use` (and ignored when both are set). */
export interface DeprecatedVariable {
  variable: string
  use: string
  ignored: boolean
}

export class EnvReader {
  readonly problems: { variable: string; message: string }[] = []
  /** Old names of renamed variables that were set, in the order read (logged once at start). */
  readonly deprecated: DeprecatedVariable[] = []
  /** Every variable read, for the deploy test that checks compose files set only known ones. */
  readonly read = new Set<string>()
  constructor(private readonly env: Env) {}

  private raw(name: string): string | undefined {
    this.read.add(name)
    const v = this.env[name]
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }
  private fail<T>(name: string, message: string, fallback: T): T {
    this.problems.push({ variable: name, message })
    return fallback
  }

  str(name: string, def: string): string {
    return this.raw(name) ?? def
  }
  optStr(name: string): string | undefined {
    return this.raw(name)
  }
  required(name: string): string {
    return this.raw(name) ?? this.fail(name, 'is required', '')
  }
  /** First variable of `names` that is set (aliases, e.g. BACKFILLER_METRICS_PORT / METRICS_PORT). */
  firstOf(names: string[]): { name: string; value: string } | undefined {
    for (const n of names) {
      const v = this.raw(n)
      if (v !== undefined) return { name: n, value: v }
    }
    return undefined
  }
  /**
   * The variable to read for `name`, which replaced `old` (a documented alias): `name` when it
   * is set (it wins; `old`, if set too, is noted as ignored), else `old` when set (noted as
   * deprecated), else `name`. Both names count as read.
   */
  renamed(name: string, old: string): string {
    const current = this.raw(name)
    const previous = this.raw(old)
    if (previous !== undefined) this.deprecated.push({ variable: old, use: name, ignored: current !== undefined })
    return current === undefined && previous !== undefined ? old : name
  }
  int(name: string, def: number, opts: { min?: number; max?: number } = {}): number {
    const v = this.raw(name)
    return v === undefined ? def : this.parseInt(name, v, opts)
  }
  parseInt(name: string, v: string, opts: { min?: number; max?: number } = {}): number {
    if (!/^-?\d+$/.test(v)) return this.fail(name, `must be an integer, got "${v}"`, 0)
    const n = Number(v)
    if (opts.min !== undefined && n < opts.min) return this.fail(name, `must be >= ${opts.min}, got ${n}`, 0)
    if (opts.max !== undefined && n > opts.max) return this.fail(name, `must be <= ${opts.max}, got ${n}`, 0)
    return n
  }
  bool(name: string, def: boolean): boolean {
    const v = this.raw(name)
    if (v === undefined) return def
    const l = v.toLowerCase()
    if (['true', '1', 'yes', 'on'].includes(l)) return true
    if (['false', '0', 'no', 'off'].includes(l)) return false
    return this.fail(name, `must be true or false, got "${v}"`, def)
  }
  list(name: string, def: string[]): string[] {
    const v = this.raw(name)
    if (v === undefined) return def
    return v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  }
  url(name: string, def: string | undefined, protocols: string[]): string | undefined {
    const v = this.raw(name) ?? def
    if (v === undefined) return undefined
    return this.checkUrl(name, v, protocols)
  }
  checkUrl(name: string, v: string, protocols: string[]): string {
    let u: URL
    try {
      u = new URL(v)
    } catch {
      return this.fail(name, `must be a URL, got "${v}"`, v)
    }
    if (!protocols.includes(u.protocol)) {
      return this.fail(name, `must use ${protocols.join(' or ')}, got "${u.protocol}"`, v)
    }
    return v
  }
  oneOf<T extends string>(name: string, def: T, values: readonly T[]): T {
    const v = this.raw(name)
    if (v === undefined) return def
    if (!(values as readonly string[]).includes(v)) return this.fail(name, `must be one of ${values.join(', ')}, got "${v}"`, def)
    return v as T
  }
  /** A value turned into `T` by `parse`, which throws with a message when the value is bad. */
  parsed<T>(name: string, def: string, parse: (value: string) => T): T {
    const v = this.raw(name) ?? def
    try {
      return parse(v)
    } catch (err) {
      return this.fail(name, (err as Error).message, parse(def))
    }
  }
  /** Throw a ConfigError when any variable was bad. */
  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems)
  }
}

/** Read a config with `build`, throwing one ConfigError for every bad variable. */
export function parseConfig<T>(env: Env, build: (r: EnvReader) => T): T {
  const r = new EnvReader(env)
  const cfg = build(r)
  r.done()
  return cfg
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface CommonConfig {
  redisUrl: string
  /** Redis Cluster seed nodes (`host:port,…`); when set, ioredis Cluster is used. */
  redisClusterNodes: string[]
  logLevel: LogLevel
  metricsPort: number
  /**
   * Address the `/metrics`, `/health`, `/ready` server binds (`METRICS_HOST`). Default 127.0.0.1:
   * a process started by hand does not publish its metrics to the network; containers set
   * 0.0.0.0 (Prometheus scrapes over the compose network) and compose binds the published host
   * ports to 127.0.0.1 (`METRICS_BIND`).
   */
  metricsHost: string
  /** Number of shards of each stream (Redis Cluster); 1 = plain names. */
  streamShards: number
  /** Old names of renamed variables that were set (the reader's list: filled as the app reads). */
  deprecatedVariables: readonly DeprecatedVariable[]
}

/** What the consumer apps keep of their dead-letter streams (`<stream>_dlq`). */
export interface DlqRetentionConfig {
  /** Dead letters older than this are trimmed (0: no age limit). */
  dlqRetentionMs: number
  /** At most this many dead letters per DLQ, the newest (0: no limit). */
  dlqMaxLength: number
}

/** `DLQ_RETENTION_SECS` (default 7 days) and `DLQ_MAX_LENGTH` (default 100000). */
export function readDlqRetention(r: EnvReader): DlqRetentionConfig {
  return {
    dlqRetentionMs: r.int('DLQ_RETENTION_SECS', 7 * 86_400, { min: 0 }) * 1000,
    dlqMaxLength: r.int('DLQ_MAX_LENGTH', 100_000, { min: 0 }),
  }
}

export function readCommon(r: EnvReader, metricsPortVars: string[] = ['METRICS_PORT']): CommonConfig {
  const port = r.firstOf(metricsPortVars)
  return {
    redisUrl: r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']) ?? 'redis://127.0.0.1:6379',
    redisClusterNodes: r.list('REDIS_CLUSTER_NODES', []),
    logLevel: r.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    metricsPort: port ? r.parseInt(port.name, port.value, { min: 0, max: 65535 }) : 9090,
    metricsHost: readHost(r, 'METRICS_HOST', '127.0.0.1'),
    streamShards: r.int('STREAM_SHARDS', 1, { min: 1, max: 1024 }),
    deprecatedVariables: r.deprecated,
  }
}

/** An IP address to listen on (v4 or v6), or `localhost`. */
function readHost(r: EnvReader, name: string, def: string): string {
  const v = r.str(name, def)
  if (isIP(v) === 0 && v !== 'localhost') {
    r.problems.push({ variable: name, message: `must be an IP address to listen on (e.g. 127.0.0.1, 0.0.0.0, ::), got "${v}"` })
    return def
  }
  return v
}
