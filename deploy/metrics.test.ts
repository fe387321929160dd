/**
 * deploy/: every metric the rules and the dashboard use is one the apps export (from their source,
 * and from a scrape of the running apps).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  APPS,
  ROOT,
  defaultMetricNames,
  deleteKeys,
  metricsInExpr,
  readYaml,
  rel,
  sourceMetricNames,
  type App,
  type RuleFile,
} from '../apps/ops/src/test/deploy-checks.js'

import { RULE_FILES, DASHBOARDS } from './test/deploy-setup.js'

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
    for (const p of d.panels)
      for (const t of p.targets ?? []) for (const m of metricsInExpr(t.expr)) if (!used.has(m)) used.set(m, `dashboard ${f} "${p.title}"`)
  }
  for (const r of recorded) used.delete(r)
  used.delete('up')
  return used
}

describe('metrics used by rules and dashboards', () => {
  it('the PromQL metric extraction', () => {
    expect(metricsInExpr('sum by (host) (rate(ingester_frames_received_total{type="commit"}[2m])) == 0').sort()).toEqual([
      'ingester_frames_received_total',
    ])
    expect(metricsInExpr('process_resident_memory_bytes / on (job) group_left () firehose:memory_limit_bytes > 0.9').sort()).toEqual([
      'firehose:memory_limit_bytes',
      'process_resident_memory_bytes',
    ])
    expect(metricsInExpr('histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket{a=~"$instance"}[$__rate_interval])))')).toEqual([
      'x_seconds_bucket',
    ])
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
        ingester: {
          INGESTER_RELAY_HOSTS: 'ws://127.0.0.1:1',
          INGESTER_FIREHOSE_STREAM: `${prefix}_fl`,
          INGESTER_LABEL_STREAM: `${prefix}_ll`,
          INGESTER_REPO_STREAM: `${prefix}_rb`,
        },
        backfiller: { BACKFILLER_CONSUMER: 'deploy-test', BACKFILLER_IN_STREAM: `${prefix}_rb`, BACKFILLER_OUT_STREAM: `${prefix}_fb` },
        indexer: {
          DATABASE_URL: process.env.DATABASE_URL ?? '',
          INDEXER_MIGRATE: 'false',
          INDEXER_CONSUMER: 'deploy-test',
          INDEXER_STREAMS: `${prefix}_fl,${prefix}_fb`,
          INDEXER_LABEL_STREAM: `${prefix}_ll`,
        },
      }
      await Promise.all(
        APPS.map(async (app) => {
          const port = await freePort()
          const child = spawn(process.execPath, [join(ROOT, 'apps', app, 'dist/main.js')], {
            env: {
              PATH: process.env.PATH,
              REDIS_URL: redisUrl,
              LOG_LEVEL: 'warn',
              METRICS_PORT: String(port),
              BACKFILLER_METRICS_PORT: String(port),
              ...envs[app],
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          })
          procs.push(child)
          let log = ''
          child.stdout?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
          child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
          const deadline = Date.now() + 60_000
          while (Date.now() < deadline && child.exitCode === null) {
            const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
              (r) => (r.ok ? r.text() : null),
              () => null,
            )
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
              p.once('exit', () => {
                clearTimeout(t)
                resolve()
              })
              p.kill('SIGTERM')
            }),
        ),
      )
      await deleteKeys(process.env.REDIS_URL as string, prefix)
    })

    it("every metric the rules and the dashboard use is on some app's /metrics", () => {
      if (missingBuild.length > 0) throw new Error(`build the apps first (pnpm build): no dist/main.js for ${missingBuild.join(', ')}`)
      for (const app of APPS) expect(scraped.get(app), `${app} did not serve /metrics; its output:\n${logs.get(app)}`).toBeTruthy()
      const all = new Set([...scraped.values()].flatMap((s) => [...s]))
      const unknown = [...usedMetrics()].filter(([m]) => !all.has(m)).map(([m, where]) => `${m} (${where})`)
      expect(unknown).toEqual([])
    })

    it('each app exports the metric names docs/design.md fixes, and default process metrics', () => {
      if (missingBuild.length > 0) throw new Error(`build the apps first (pnpm build): no dist/main.js for ${missingBuild.join(', ')}`)
      const fixed = [
        'backfiller_repos_processed_total',
        'backfiller_repos_failed_total',
        'backfiller_repos_dead_lettered_total',
        'backfiller_records_extracted_total',
        'backfiller_retries_attempted_total',
        'backfiller_repos_waiting',
        'backfiller_repos_running',
        'backfiller_output_stream_length',
        'backfiller_car_fetch_errors_total',
        'backfiller_car_parse_errors_total',
        'backfiller_verification_errors_total',
      ]
      for (const m of fixed) expect(scraped.get('backfiller')?.has(m), m).toBe(true)
      for (const app of APPS) {
        for (const m of [
          'process_resident_memory_bytes',
          'process_cpu_seconds_total',
          'nodejs_eventloop_lag_p99_seconds',
          `${app}_build_info`,
        ]) {
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
