/**
 * deploy/: the compose files, Prometheus config and rules, and the Grafana dashboard agree with
 * the apps: every app service has a unique consumer name, a /ready healthcheck, limits and a scrape
 * target; compose sets only variables the apps read; every metric the rules and the dashboard use
 * is one the apps export (from their source, and from a scrape of the running apps).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  APPS,
  ROOT,
  RUNTIME_VARS,
  composeValidator,
  defaultMetricNames,
  deleteKeys,
  envVarsRead,
  loadCompose,
  metricsInExpr,
  parseBytes,
  parseSeconds,
  readYaml,
  rel,
  run,
  sourceMetricNames,
  which,
  type App,
  type ComposeFile,
  type RuleFile,
  type Service,
} from '../apps/ops/src/test/deploy-checks.js'

const DEPLOY = join(ROOT, 'deploy')
const PROD = join(DEPLOY, 'docker-compose.yml')
const DEV = join(DEPLOY, 'docker-compose.dev.yml')
const PROMETHEUS = join(DEPLOY, 'prometheus/prometheus.yml')
const RULES_DIR = join(DEPLOY, 'prometheus/rules')
const RULE_FILES = readdirSync(RULES_DIR).filter((f) => f.endsWith('.yml')).map((f) => join(RULES_DIR, f))
const RULE_TESTS = join(DEPLOY, 'prometheus/tests')
const DASHBOARDS = join(DEPLOY, 'grafana/dashboards')

const CONSUMER_VAR: Record<App, string | undefined> = { ingester: undefined, backfiller: 'BACKFILLER_CONSUMER', indexer: 'INDEXER_CONSUMER' }
const INFRA_DEPENDENCIES: Record<App, string[]> = { ingester: ['redis'], backfiller: ['redis'], indexer: ['redis'] }

const appServices = (c: ComposeFile) => c.services.filter((s): s is Service & { app: App } => s.app !== undefined && s.app !== 'ops')
const composeFiles = () => [loadCompose(PROD), loadCompose(DEV)]

describe('docker compose files', () => {
  const validator = composeValidator()
  it.runIf(validator)(`validate with \`${validator?.join(' ') ?? 'docker compose'} config\``, () => {
    for (const f of [PROD, DEV]) run([...(validator as string[]), '-f', f, 'config', '-q'])
  })
  it.skipIf(validator)('validate with `docker compose config` (skipped: neither docker compose nor docker-compose is installed)', () => {})

  it.each([['production', PROD], ['dev', DEV]])('%s: every app service has a unique consumer name, a /ready healthcheck, limits, init, a restart policy and a published metrics port', (_, path) => {
    const c = loadCompose(path)
    const apps = appServices(c)
    expect(apps.map((s) => s.app).sort()).toEqual(expect.arrayContaining([...APPS].sort()))
    const consumers = new Map<string, string>()
    const hostPorts = new Map<string, string>()
    for (const s of apps) {
      const where = `${rel(path)} service ${s.name}`
      const v = CONSUMER_VAR[s.app]
      if (v) {
        const consumer = s.env[v]
        expect(consumer, `${where}: ${v} is not set`).toBeTruthy()
        expect(consumers.get(consumer as string), `${where}: consumer ${consumer} is also ${consumers.get(consumer as string)}'s`).toBeUndefined()
        consumers.set(consumer as string, s.name)
      }
      const hc = s.raw.healthcheck as { test?: string[] } | undefined
      expect(JSON.stringify(hc?.test ?? ''), `${where}: healthcheck must check /ready`).toContain('/ready')
      expect(s.raw.init, `${where}: init: true`).toBe(true)
      expect(s.raw.restart, `${where}: restart policy`).toMatch(/^(always|unless-stopped|on-failure)/)
      expect(parseSeconds(s.raw.stop_grace_period), `${where}: stop_grace_period must exceed the 30 s drain`).toBeGreaterThan(30)
      const mem = parseBytes(s.raw.mem_limit)
      expect(Number(s.raw.cpus), `${where}: cpus limit`).toBeGreaterThan(0)
      const heap = /--max-old-space-size=(\d+)/.exec(s.env.NODE_OPTIONS ?? '')
      expect(heap, `${where}: NODE_OPTIONS=--max-old-space-size=… below mem_limit`).toBeTruthy()
      expect(Number(heap?.[1]) * 1024 * 1024, `${where}: the V8 heap must leave room below mem_limit`).toBeLessThanOrEqual(mem * 0.8)
      const deps = s.raw.depends_on as Record<string, { condition?: string }> | undefined
      for (const d of INFRA_DEPENDENCIES[s.app]) expect(deps?.[d]?.condition, `${where}: depends_on ${d} service_healthy`).toBe('service_healthy')
      const ports = (s.raw.ports as string[] | undefined) ?? []
      const metricsPort = s.env.BACKFILLER_METRICS_PORT ?? s.env.METRICS_PORT ?? '9090'
      const published = ports.map((p) => String(p).split(':')).find((p) => p[p.length - 1] === metricsPort)
      expect(published, `${where}: the metrics port ${metricsPort} is not published`).toBeTruthy()
      const hostPort = (published as string[])[published!.length - 2] as string
      expect(hostPorts.get(hostPort), `${where}: host port ${hostPort} is also ${hostPorts.get(hostPort)}'s`).toBeUndefined()
      hostPorts.set(hostPort, s.name)
    }
  })

  it('production: one service per instance (ingester, 2 backfillers, 6 indexers), indexers behind pgbouncer', () => {
    const c = loadCompose(PROD)
    const byApp = (a: App) => appServices(c).filter((s) => s.app === a).map((s) => s.name)
    expect(byApp('ingester')).toEqual(['ingester'])
    expect(byApp('backfiller')).toEqual(['backfiller1', 'backfiller2'])
    expect(byApp('indexer')).toEqual(['indexer1', 'indexer2', 'indexer3', 'indexer4', 'indexer5', 'indexer6'])
    for (const s of appServices(c).filter((x) => x.app === 'indexer')) {
      expect(s.env.INDEXER_CONSUMER).toBe(s.name)
      expect(new URL(s.env.DATABASE_URL as string).hostname).toBe('pgbouncer')
      expect((s.raw.depends_on as Record<string, { condition: string }>).pgbouncer?.condition).toBe('service_healthy')
    }
    const pgb = c.services.find((s) => s.name === 'pgbouncer')
    expect(pgb?.env.POOL_MODE).toBe('transaction')
    const redis = c.services.find((s) => s.name === 'redis')
    expect(String(redis?.raw.command)).toContain('--maxmemory-policy noeviction')
  })

  it.each([['production', PROD], ['dev', DEV]])('%s: every environment variable set on an app service is one that app reads', (_, path) => {
    const problems: string[] = []
    for (const s of appServices(loadCompose(path))) {
      const read = envVarsRead(s.app) // throws, naming the file, while an app has no src/config.ts
      for (const [name, from] of s.setBy) {
        if (!read.has(name) && !RUNTIME_VARS.has(name)) problems.push(`${s.name}: ${name} (from ${from}) is not read by ${s.app}`)
      }
    }
    expect(problems).toEqual([])
  })

  it.each([['production', PROD], ['dev', DEV]])('%s: each app\'s own config parser accepts the values compose gives it', async (_, path) => {
    const problems: string[] = []
    for (const s of appServices(loadCompose(path))) {
      const file = join(ROOT, 'apps', s.app, 'dist/config.js')
      if (!existsSync(file)) throw new Error(`build ${s.app} first (pnpm build): no ${rel(file)}`)
      const { loadConfig } = (await import(pathToFileURL(file).href)) as { loadConfig: (env: Record<string, string>) => unknown }
      try {
        loadConfig(s.env)
      } catch (e) {
        problems.push(`${s.name}: ${(e as Error).message}`)
      }
    }
    expect(problems).toEqual([])
  })

  it('the ops service runs the CLI with the same Redis settings', () => {
    for (const c of composeFiles()) {
      const ops = c.services.find((s) => s.app === 'ops')
      expect(ops, `${rel(c.path)}: an ops service`).toBeTruthy()
      expect(ops?.profiles).toContain('tools')
      expect(ops?.env.REDIS_URL).toBe('redis://redis:6379')
    }
  })
})

describe('prometheus', () => {
  const promtool = which('promtool')

  it.runIf(promtool)('promtool check config, check rules, and the rule unit tests pass', () => {
    run(['promtool', 'check', 'config', PROMETHEUS])
    run(['promtool', 'check', 'rules', ...RULE_FILES])
    const tests = readdirSync(RULE_TESTS).filter((f) => f.endsWith('.yml')).map((f) => join(RULE_TESTS, f))
    expect(tests.length).toBeGreaterThan(0)
    run(['promtool', 'test', 'rules', ...tests], join(DEPLOY, 'prometheus'))
  })
  it.skipIf(promtool)('promtool checks (skipped: promtool not installed; Debian: apt-get install prometheus)', () => {})

  it('scrapes every app instance of the production compose file, and nothing else under the app jobs', () => {
    const cfg = readYaml(PROMETHEUS) as { scrape_configs: { job_name: string; static_configs: { targets: string[]; labels?: Record<string, string> }[] }[] }
    const targets = new Map<string, { job: string; instance?: string }>()
    for (const job of cfg.scrape_configs) for (const sc of job.static_configs ?? []) for (const t of sc.targets) targets.set(t, { job: job.job_name, ...(sc.labels?.instance ? { instance: sc.labels.instance } : {}) })
    const services = appServices(loadCompose(PROD))
    for (const s of services) {
      const t = targets.get(`${s.name}:${s.env.BACKFILLER_METRICS_PORT ?? s.env.METRICS_PORT ?? '9090'}`)
      expect(t, `no scrape target for ${s.name}`).toBeTruthy()
      expect(t).toEqual({ job: s.app, instance: s.name })
    }
    const appTargets = [...targets.values()].filter((t) => (APPS as readonly string[]).includes(t.job))
    expect(appTargets).toHaveLength(services.length)
  })

  it('rules are well formed: alerts have a severity and a summary, durations parse', () => {
    for (const f of RULE_FILES) {
      const doc = readYaml(f) as RuleFile
      expect(doc.groups.length, rel(f)).toBeGreaterThan(0)
      for (const g of doc.groups) {
        for (const r of g.rules) {
          const name = r.alert ?? r.record
          expect(name, `${rel(f)} ${g.name}: a rule without alert or record`).toBeTruthy()
          expect(typeof r.expr, `${name}: expr`).toBe('string')
          if (r.alert) {
            expect(r.labels?.severity, `${name}: severity`).toMatch(/^(critical|warning|info)$/)
            expect(r.annotations?.summary, `${name}: summary`).toBeTruthy()
            if (r.for) expect(r.for).toMatch(/^\d+[smh]$/)
          }
        }
      }
    }
  })

  it('covers what the issue asks for: lag, pending growth, high-water mark, DLQ, silent relay, instance down, memory', () => {
    const alerts = RULE_FILES.flatMap((f) => (readYaml(f) as RuleFile).groups.flatMap((g) => g.rules.filter((r) => r.alert)))
    const uses = (metric: string) => alerts.some((a) => metricsInExpr(a.expr).includes(metric))
    expect(uses('indexer_lag_seconds')).toBe(true)
    expect(uses('indexer_stream_pending')).toBe(true)
    expect(uses('ingester_stream_length') && uses('backfiller_output_stream_length')).toBe(true)
    expect(uses('backfiller_repos_dead_lettered_total') && uses('indexer_stream_entries_dead_lettered_total')).toBe(true)
    expect(uses('ingester_frames_received_total')).toBe(true)
    expect(uses('up')).toBe(true)
    expect(uses('process_resident_memory_bytes')).toBe(true)
  })

  it('the memory limits the rules compare with are the compose mem_limits', () => {
    const limits = new Map<string, number>()
    for (const f of RULE_FILES) {
      for (const g of (readYaml(f) as RuleFile).groups) {
        for (const r of g.rules) if (r.record === 'firehose:memory_limit_bytes') limits.set(r.labels?.job as string, Number(/vector\((\d+)\)/.exec(r.expr)?.[1]))
      }
    }
    for (const s of appServices(loadCompose(PROD))) expect(limits.get(s.app), `${s.name}: mem_limit ${String(s.raw.mem_limit)}`).toBe(parseBytes(s.raw.mem_limit))
  })

  it('the high-water marks the rules compare with are the ones the compose files configure', () => {
    const marks = new Map<string, number>()
    for (const f of RULE_FILES) {
      for (const g of (readYaml(f) as RuleFile).groups) {
        for (const r of g.rules) if (r.record === 'firehose:high_water_mark_entries') marks.set(r.labels?.job as string, Number(/vector\((\d+)\)/.exec(r.expr)?.[1]))
      }
    }
    const DEFAULT_MARK = 1_000_000 // DESIGN.md
    for (const s of appServices(loadCompose(PROD))) {
      const v = s.app === 'ingester' ? 'INGESTER_HIGH_WATER_MARK' : s.app === 'backfiller' ? 'BACKFILLER_HIGH_WATER_MARK' : undefined
      if (v) expect(marks.get(s.app), `${s.name}: ${v}`).toBe(Number(s.env[v] ?? DEFAULT_MARK))
    }
  })
})

/** Metric names of the rule expressions and the dashboard's queries, with where each is used. */
function usedMetrics(): Map<string, string> {
  const used = new Map<string, string>()
  const recorded = new Set<string>()
  for (const f of RULE_FILES) {
    for (const g of (readYaml(f) as RuleFile).groups) {
      for (const r of g.rules) {
        if (r.record) recorded.add(r.record)
        for (const m of metricsInExpr(r.expr)) if (!used.has(m)) used.set(m, `${rel(f)} ${r.alert ?? r.record}`)
      }
    }
  }
  for (const f of readdirSync(DASHBOARDS).filter((x) => x.endsWith('.json'))) {
    const d = JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] }
    for (const p of d.panels) for (const t of p.targets ?? []) for (const m of metricsInExpr(t.expr)) if (!used.has(m)) used.set(m, `dashboard ${f} "${p.title}"`)
  }
  for (const r of recorded) used.delete(r)
  used.delete('up')
  return used
}

describe('metrics used by rules and dashboards', () => {
  it('the PromQL metric extraction', () => {
    expect(metricsInExpr('sum by (host) (rate(ingester_frames_received_total{type="commit"}[2m])) == 0').sort()).toEqual(['ingester_frames_received_total'])
    expect(metricsInExpr('process_resident_memory_bytes / on (job) group_left () firehose:memory_limit_bytes > 0.9').sort()).toEqual(['firehose:memory_limit_bytes', 'process_resident_memory_bytes'])
    expect(metricsInExpr('histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket{a=~"$instance"}[$__rate_interval])))')).toEqual(['x_seconds_bucket'])
  })

  it('the dashboard JSON is what deploy/grafana/dashboard.mjs generates', async () => {
    const { json } = await import('./grafana/dashboard.mjs')
    expect(readFileSync(join(DASHBOARDS, 'firehose.json'), 'utf8')).toBe(json)
  })

  it('are all exported by the apps (their source) or default process metrics', async () => {
    const exported = sourceMetricNames()
    const defaults = await defaultMetricNames()
    const unknown = [...usedMetrics()].filter(([m]) => !exported.has(m) && !defaults.has(m)).map(([m, where]) => `${m} (${where})`)
    expect(unknown).toEqual([])
  })

  describe('scraped from the running apps', () => {
    const procs: ChildProcess[] = []
    const logs = new Map<App, string>()
    const scraped = new Map<App, Set<string>>()
    const prefix = `deploytest_${randomBytes(4).toString('hex')}`
    const missingBuild = APPS.filter((a) => !existsSync(join(ROOT, 'apps', a, 'dist/main.js')))

    beforeAll(async () => {
      if (missingBuild.length > 0) return
      const redisUrl = process.env.REDIS_URL as string
      const envs: Record<App, Record<string, string>> = {
        ingester: { INGESTER_RELAY_HOSTS: 'ws://127.0.0.1:1', INGESTER_FIREHOSE_STREAM: `${prefix}_fl`, INGESTER_LABEL_STREAM: `${prefix}_ll`, INGESTER_REPO_STREAM: `${prefix}_rb` },
        backfiller: { BACKFILLER_CONSUMER: 'deploy-test', BACKFILLER_IN_STREAM: `${prefix}_rb`, BACKFILLER_OUT_STREAM: `${prefix}_fb` },
        indexer: { DATABASE_URL: process.env.DATABASE_URL ?? '', INDEXER_MIGRATE: 'false', INDEXER_CONSUMER: 'deploy-test', INDEXER_STREAMS: `${prefix}_fl,${prefix}_fb`, INDEXER_LABEL_STREAM: `${prefix}_ll` },
      }
      await Promise.all(
        APPS.map(async (app) => {
          const port = await freePort()
          const child = spawn(process.execPath, [join(ROOT, 'apps', app, 'dist/main.js')], {
            env: { PATH: process.env.PATH, REDIS_URL: redisUrl, LOG_LEVEL: 'warn', METRICS_PORT: String(port), BACKFILLER_METRICS_PORT: String(port), ...envs[app] },
            stdio: ['ignore', 'pipe', 'pipe'],
          })
          procs.push(child)
          let log = ''
          child.stdout?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
          child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
          const deadline = Date.now() + 60_000
          while (Date.now() < deadline && child.exitCode === null) {
            const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => (r.ok ? r.text() : null), () => null)
            if (text) {
              const names = new Set<string>()
              for (const m of text.matchAll(/^# TYPE (\S+) (\S+)/gm)) {
                names.add(m[1] as string)
                if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m[1]}${s}`)
              }
              scraped.set(app, names)
              break
            }
            await new Promise((r) => setTimeout(r, 250))
          }
          logs.set(app, log)
        }),
      )
    }, 90_000)

    afterAll(async () => {
      await Promise.all(
        procs.map(
          (p) =>
            new Promise<void>((resolve) => {
              if (p.exitCode !== null) return resolve()
              const t = setTimeout(() => p.kill('SIGKILL'), 10_000)
              p.once('exit', () => (clearTimeout(t), resolve()))
              p.kill('SIGTERM')
            }),
        ),
      )
      await deleteKeys(process.env.REDIS_URL as string, prefix)
    })

    it('every metric the rules and the dashboard use is on some app\'s /metrics', () => {
      if (missingBuild.length > 0) throw new Error(`build the apps first (pnpm build): no dist/main.js for ${missingBuild.join(', ')}`)
      for (const app of APPS) expect(scraped.get(app), `${app} did not serve /metrics; its output:\n${logs.get(app)}`).toBeTruthy()
      const all = new Set([...scraped.values()].flatMap((s) => [...s]))
      const unknown = [...usedMetrics()].filter(([m]) => !all.has(m)).map(([m, where]) => `${m} (${where})`)
      expect(unknown).toEqual([])
    })

    it('each app exports the metric names DESIGN.md fixes, and default process metrics', () => {
      if (missingBuild.length > 0) throw new Error(`build the apps first (pnpm build): no dist/main.js for ${missingBuild.join(', ')}`)
      const fixed = [
        'backfiller_repos_processed_total', 'backfiller_repos_failed_total', 'backfiller_repos_dead_lettered_total',
        'backfiller_records_extracted_total', 'backfiller_retries_attempted_total', 'backfiller_repos_waiting',
        'backfiller_repos_running', 'backfiller_output_stream_length', 'backfiller_car_fetch_errors_total',
        'backfiller_car_parse_errors_total', 'backfiller_verification_errors_total',
      ]
      for (const m of fixed) expect(scraped.get('backfiller')?.has(m), m).toBe(true)
      for (const app of APPS) {
        for (const m of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_p99_seconds', `${app}_build_info`]) {
          expect(scraped.get(app)?.has(m), `${app}: ${m}`).toBe(true)
        }
      }
    })
  })
})

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}
