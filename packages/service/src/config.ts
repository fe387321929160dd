/**
 * Typed configuration from environment variables. Each app declares its variables once with
 * these readers; `parseConfig` collects every bad value and throws one ConfigError naming them,
 * so the process stops at start-up with a message an operator can act on.
 */
export type Env = Record<string, string | undefined>

export class ConfigError extends Error {
  override name = 'ConfigError'
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.variable}: ${p.message}`).join('; ')}`)
  }
}

export class EnvReader {
  readonly problems: { variable: string; message: string }[] = []
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
  /** Number of shards of each stream (Redis Cluster); 1 = plain names. */
  streamShards: number
}

export function readCommon(r: EnvReader, metricsPortVars: string[] = ['METRICS_PORT']): CommonConfig {
  const port = r.firstOf(metricsPortVars)
  return {
    redisUrl: r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']) ?? 'redis://127.0.0.1:6379',
    redisClusterNodes: r.list('REDIS_CLUSTER_NODES', []),
    logLevel: r.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    metricsPort: port ? r.parseInt(port.name, port.value, { min: 0, max: 65535 }) : 9090,
    streamShards: r.int('STREAM_SHARDS', 1, { min: 1, max: 1024 }),
  }
}
