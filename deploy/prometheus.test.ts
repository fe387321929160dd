/**
 * deploy/prometheus: a scrape target for every app instance; rules well formed, covering what
 * operators need, and comparing with the limits and marks the compose files set.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  APPS,
  loadCompose,
  metricsInExpr,
  parseBytes,
  readYaml,
  rel,
  run,
  which,
  type RuleFile,
} from '../apps/ops/src/test/deploy-checks.js'

import { DEPLOY, PROD, PROMETHEUS, RULE_FILES, RULE_TESTS, SECRETS, appServices } from './test/deploy-setup.js'

describe('prometheus', () => {
  const promtool = which('promtool')

  it.runIf(promtool)('promtool check config, check rules, and the rule unit tests pass', () => {
    run(['promtool', 'check', 'config', PROMETHEUS])
    run(['promtool', 'check', 'rules', ...RULE_FILES])
    const tests = readdirSync(RULE_TESTS)
      .filter((f) => f.endsWith('.yml'))
      .map((f) => join(RULE_TESTS, f))
    expect(tests.length).toBeGreaterThan(0)
    run(['promtool', 'test', 'rules', ...tests], join(DEPLOY, 'prometheus'))
  })
  it.skipIf(promtool)('promtool checks (skipped: promtool not installed; Debian: apt-get install prometheus)', () => {})

  it('scrapes every app instance of the production compose file, and nothing else under the app jobs', () => {
    const cfg = readYaml(PROMETHEUS) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[]; labels?: Record<string, string> }[] }[]
    }
    const targets = new Map<string, { job: string; instance?: string }>()
    for (const job of cfg.scrape_configs)
      for (const sc of job.static_configs ?? [])
        for (const t of sc.targets) targets.set(t, { job: job.job_name, ...(sc.labels?.instance ? { instance: sc.labels.instance } : {}) })
    const services = appServices(loadCompose(PROD, SECRETS))
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
        for (const r of g.rules)
          if (r.record === 'firehose:memory_limit_bytes') limits.set(r.labels?.job as string, Number(/vector\((\d+)\)/.exec(r.expr)?.[1]))
      }
    }
    for (const s of appServices(loadCompose(PROD, SECRETS)))
      expect(limits.get(s.app), `${s.name}: mem_limit ${String(s.raw.mem_limit)}`).toBe(parseBytes(s.raw.mem_limit))
  })

  it('the high-water marks the rules compare with are the ones the compose files configure', () => {
    const marks = new Map<string, number>()
    for (const f of RULE_FILES) {
      for (const g of (readYaml(f) as RuleFile).groups) {
        for (const r of g.rules)
          if (r.record === 'firehose:high_water_mark_entries')
            marks.set(r.labels?.job as string, Number(/vector\((\d+)\)/.exec(r.expr)?.[1]))
      }
    }
    const DEFAULT_MARK = 1_000_000 // docs/design.md
    for (const s of appServices(loadCompose(PROD, SECRETS))) {
      const v = s.app === 'ingester' ? 'INGESTER_HIGH_WATER_MARK' : s.app === 'backfiller' ? 'BACKFILLER_HIGH_WATER_MARK' : undefined
      if (v) expect(marks.get(s.app), `${s.name}: ${v}`).toBe(Number(s.env[v] ?? DEFAULT_MARK))
    }
  })
})

/** Metric names of the rule expressions and the dashboard's queries, with where each is used. */
