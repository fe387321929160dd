/**
 * Helpers of deploy/deploy.test.ts: load the compose files the way compose reads them (YAML merge
 * keys, `${VAR:-default}` interpolation, env_file), the env variables each app reads, the metric
 * names the apps export and the ones PromQL expressions use. Lives here because `yaml` is a dev
 * dependency of this package.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { parse } from 'yaml'
import { createRegistry } from '@firehose/service'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..')
export const APPS = ['ingester', 'backfiller', 'indexer'] as const
export type App = (typeof APPS)[number]

export const readYaml = (path: string): unknown => parse(readFileSync(path, 'utf8'), { merge: true })

/**
 * `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `$$` as compose
 * interpolates them (from `env`). A required variable that is missing throws `message`, naming it.
 */
export function interpolate(s: string, env: Record<string, string | undefined> = {}): string {
  return s.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
    (m, name: string | undefined, op: string | undefined, def: string | undefined) => {
      if (m === '$$') return '$'
      const v = env[name as string]
      if (op === ':-') return v ? v : (def ?? '')
      if (op === '-') return v !== undefined ? v : (def ?? '')
      if ((op === ':?' && !v) || (op === '?' && v === undefined))
        throw new Error(`required variable ${name} is missing a value: ${def ?? ''}`)
      return v ?? ''
    },
  )
}

function interpolateDeep(v: unknown, env: Record<string, string | undefined>): unknown {
  if (typeof v === 'string') return interpolate(v, env)
  if (Array.isArray(v)) return v.map((x) => interpolateDeep(x, env))
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolateDeep(x, env)]))
  return v
}

/** KEY=VALUE lines of an env_file (comments and blank lines skipped). */
export function readEnvFile(path: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const i = line.indexOf('=')
    if (i <= 0) throw new Error(`${path}: not KEY=VALUE: ${line}`)
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim()
  }
  return out
}

export interface Service {
  name: string
  raw: Record<string, unknown>
  /** The app the service runs (from its build target or image), if any. */
  app: App | 'ops' | undefined
  /** environment + env_file, as the container sees it (environment wins). */
  env: Record<string, string>
  /** Variables set by the compose file for this service, with where each comes from. */
  setBy: Map<string, string>
  profiles: string[]
}

export interface ComposeFile {
  path: string
  services: Service[]
}

export function loadCompose(path: string, env: Record<string, string | undefined> = {}): ComposeFile {
  const doc = interpolateDeep(readYaml(path), env) as { services: Record<string, Record<string, unknown>> }
  const dir = dirname(path)
  const services: Service[] = []
  for (const [name, raw] of Object.entries(doc.services ?? {})) {
    const build = raw.build as { target?: string } | undefined
    const image = String(raw.image ?? '')
    const kind = build?.target ?? /\/(ingester|backfiller|indexer|ops):/.exec(image)?.[1]
    const app = kind && ([...APPS, 'ops'] as string[]).includes(kind) ? (kind as App | 'ops') : undefined
    const envOut: Record<string, string> = {}
    const setBy = new Map<string, string>()
    const files = raw.env_file === undefined ? [] : Array.isArray(raw.env_file) ? raw.env_file : [raw.env_file]
    for (const f of files) {
      const p = typeof f === 'string' ? f : String((f as { path: string }).path)
      for (const [k, v] of Object.entries(readEnvFile(join(dir, p)))) {
        envOut[k] = v
        setBy.set(k, p)
      }
    }
    const e = raw.environment
    const entries: [string, string][] = Array.isArray(e)
      ? e.map((x: string) => [x.split('=')[0] as string, x.slice(x.indexOf('=') + 1)])
      : Object.entries((e ?? {}) as Record<string, unknown>).map(([k, v]) => [k, v === null ? '' : String(v)])
    for (const [k, v] of entries) {
      envOut[k] = v
      setBy.set(k, 'environment')
    }
    services.push({ name, raw, app, env: envOut, setBy, profiles: (raw.profiles as string[] | undefined) ?? [] })
  }
  return { path, services }
}

/** `1g`, `512m`, `2048k`, `1073741824` → bytes (compose's mem_limit). */
export function parseBytes(v: unknown): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(String(v).trim())
  if (!m) throw new Error(`not a byte size: ${String(v)}`)
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase()] as number
  return Math.round(Number(m[1]) * mult)
}

/** `45s`, `1m30s` → seconds (compose durations). */
export function parseSeconds(v: unknown): number {
  let total = 0
  const s = String(v)
  const re = /(\d+(?:\.\d+)?)(h|m|s|ms|us)/g
  for (let m = re.exec(s); m; m = re.exec(s))
    total += Number(m[1]) * ({ h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001 }[m[2] as string] as number)
  return total
}

const ENV_LITERAL = /['"`]([A-Z][A-Z0-9_]+)['"`]/g

/**
 * The variables an app reads: string literals that look like env names in its `src/config.ts`
 * and in packages/service/src/config.ts (REDIS_URL, METRICS_PORT, …). Throws if config.ts is missing.
 */
export function envVarsRead(app: App): Set<string> {
  const files = [join(ROOT, 'apps', app, 'src/config.ts'), join(ROOT, 'packages/service/src/config.ts')]
  const missing = files.filter((f) => !existsSync(f))
  if (missing.length > 0)
    throw new Error(`cannot tell which variables ${app} reads: ${missing.map((f) => f.slice(ROOT.length + 1)).join(', ')} does not exist`)
  const vars = new Set<string>()
  for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(ENV_LITERAL)) vars.add(m[1] as string)
  return vars
}

/** Variables a container may set that no app config reads because Node itself does. */
export const RUNTIME_VARS = new Set(['NODE_OPTIONS', 'NODE_ENV', 'TZ'])

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const e of readdirSync(dir)) {
    const p = join(dir, e)
    if (statSync(p).isDirectory()) {
      if (e !== 'test' && e !== 'node_modules' && e !== 'dist') out.push(...tsFiles(p))
    } else if (e.endsWith('.ts') && !e.endsWith('.test.ts') && !e.endsWith('.d.ts')) out.push(p)
  }
  return out
}

/** Names prom-client's default metrics (collectDefaultMetrics) register, with histogram series. */
export async function defaultMetricNames(): Promise<Set<string>> {
  const registry = createRegistry('x')
  const names = new Set<string>()
  for (const m of await registry.getMetricsAsJSON()) {
    if (m.name === 'x_build_info') continue
    names.add(m.name)
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s)
  }
  return names
}

/**
 * Metric names found in the apps' and packages' source: literals `<app>_…`, and `${prefix}_…`
 * templates of packages/* functions expanded with the prefix each app passes when calling them.
 * Histograms may be used as `_bucket` / `_sum` / `_count`.
 */
export function sourceMetricNames(): Map<string, App> {
  const names = new Map<string, App>()
  const add = (n: string, app: App) => {
    for (const s of ['', '_bucket', '_sum', '_count']) if (!names.has(n + s)) names.set(n + s, app)
  }
  // Functions in packages/* that build names from a prefix: function name → name templates.
  const templates = new Map<string, string[]>()
  for (const f of readdirSync(join(ROOT, 'packages')).flatMap((p) => tsFiles(join(ROOT, 'packages', p, 'src')))) {
    const text = readFileSync(f, 'utf8')
    const parts = text.split(/^export (?:async )?function (\w+)/m)
    for (let i = 1; i + 1 < parts.length; i += 2) {
      const body = parts[i + 1] as string
      const found = [...body.matchAll(/`\$\{prefix\}_([a-z0-9_]+)`/g)].map((m) => m[1] as string)
      // `${prefix}_stream_${name}_total` with `c('entries_acked', …)` helpers
      if (/`\$\{prefix\}_stream_\$\{name\}_total`/.test(body))
        for (const m of body.matchAll(/\bc\('([a-z0-9_]+)'/g)) found.push(`stream_${m[1]}_total`)
      if (found.length > 0) templates.set(parts[i] as string, found)
    }
  }
  for (const app of APPS) {
    for (const f of tsFiles(join(ROOT, 'apps', app, 'src'))) {
      const text = readFileSync(f, 'utf8')
      for (const m of text.matchAll(/['"`]((?:ingester|indexer|backfiller)_[a-z0-9_]+)['"`]/g)) add(m[1] as string, app)
      for (const [fn, tpl] of templates) {
        for (const m of text.matchAll(new RegExp(`\\b${fn}\\(([^;]{0,160})`, 'g'))) {
          const prefix = /'(ingester|indexer|backfiller)'/.exec(m[1] as string)?.[1]
          if (prefix) for (const t of tpl) add(`${prefix}_${t}`, app)
        }
      }
    }
  }
  return names
}

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
])

/** Metric names a PromQL expression selects (functions, keywords, labels, strings and ranges removed). */
export function metricsInExpr(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  s = s.replace(/\b([a-zA-Z_][a-zA-Z0-9_]*)\s*\(/g, ' (') // functions and aggregations
  const out = new Set<string>()
  for (const m of s.matchAll(/(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)/g)) {
    const w = m[1] as string
    if (!PROMQL_WORDS.has(w.toLowerCase())) out.add(w)
  }
  return [...out]
}

export interface RuleFile {
  groups: {
    name: string
    rules: {
      alert?: string
      record?: string
      expr: string
      for?: string
      labels?: Record<string, string>
      annotations?: Record<string, string>
    }[]
  }[]
}

/** A tool on PATH that answers `--version` (e.g. promtool), else undefined. */
export function which(cmd: string, args = ['--version']): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  return r.status === 0 ? cmd : undefined
}

/** The compose validator on this machine: `docker compose` (v2) or `docker-compose` (v1), if any. */
export function composeValidator(): string[] | undefined {
  if (spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' }).status === 0) return ['docker', 'compose']
  if (spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0) return ['docker-compose']
  return undefined
}

export function run(cmd: string[], cwd = ROOT, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd[0] as string, cmd.slice(1), { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

export const rel = (p: string): string => p.slice(ROOT.length + 1)

/** Delete the keys a test left behind (`<prefix>*`). */
export async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl)
  try {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length) await redis.del(...keys)
  } finally {
    await redis.quit()
  }
}
