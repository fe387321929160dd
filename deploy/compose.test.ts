/**
 * deploy/: the compose files agree with the apps: every app service has a unique consumer name, a
 * /ready healthcheck, limits; compose sets only variables the apps read.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import {
  APPS,
  ROOT,
  RUNTIME_VARS,
  composeValidator,
  envVarsRead,
  loadCompose,
  parseBytes,
  parseSeconds,
  rel,
  run,
  type App,
} from '../apps/ops/src/test/deploy-checks.js'

import {
  PROD,
  DEV,
  CONSUMER_VAR,
  INFRA_DEPENDENCIES,
  SECRETS,
  REQUIRED,
  composeEnv,
  appServices,
  composeFiles,
} from './test/deploy-setup.js'

describe('docker compose files', () => {
  const validator = composeValidator()
  it.runIf(validator)(`validate with \`${validator?.join(' ') ?? 'docker compose'} config\``, () => {
    for (const f of [PROD, DEV]) run([...(validator as string[]), '-f', f, 'config', '-q'], ROOT, composeEnv(SECRETS))
  })
  it.runIf(validator)(
    `\`${validator?.join(' ') ?? 'docker compose'} config\` refuses each file while a password is unset, naming it`,
    () => {
      for (const f of [PROD, DEV]) {
        for (const name of REQUIRED[f] as (keyof typeof SECRETS)[]) {
          const vars: Record<string, string> = { ...SECRETS }
          delete vars[name]
          expect(
            () => run([...(validator as string[]), '-f', f, 'config', '-q'], ROOT, composeEnv(vars)),
            `${rel(f)} without ${name}`,
          ).toThrow(name)
        }
      }
    },
  )
  it.skipIf(validator)('validate with `docker compose config` (skipped: neither docker compose nor docker-compose is installed)', () => {})

  it.each([
    ['production', PROD],
    ['dev', DEV],
  ])(
    '%s: every app service has a unique consumer name, a /ready healthcheck, limits, init, a restart policy and a published metrics port',
    (_, path) => {
      const c = loadCompose(path, SECRETS)
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
          expect(
            consumers.get(consumer as string),
            `${where}: consumer ${consumer} is also ${consumers.get(consumer as string)}'s`,
          ).toBeUndefined()
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
        for (const d of INFRA_DEPENDENCIES[s.app])
          expect(deps?.[d]?.condition, `${where}: depends_on ${d} service_healthy`).toBe('service_healthy')
        const ports = (s.raw.ports as string[] | undefined) ?? []
        const metricsPort = s.env.BACKFILLER_METRICS_PORT ?? s.env.METRICS_PORT ?? '9090'
        const published = ports.map((p) => String(p).split(':')).find((p) => p[p.length - 1] === metricsPort)
        expect(published, `${where}: the metrics port ${metricsPort} is not published`).toBeTruthy()
        const hostPort = (published as string[])[published!.length - 2] as string
        expect(hostPorts.get(hostPort), `${where}: host port ${hostPort} is also ${hostPorts.get(hostPort)}'s`).toBeUndefined()
        hostPorts.set(hostPort, s.name)
      }
    },
  )

  it('production: one service per instance (ingester, 2 backfillers, 6 indexers), indexers behind pgbouncer', () => {
    const c = loadCompose(PROD, SECRETS)
    const byApp = (a: App) =>
      appServices(c)
        .filter((s) => s.app === a)
        .map((s) => s.name)
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

  it.each([
    ['production', PROD],
    ['dev', DEV],
  ])('%s: every environment variable set on an app service is one that app reads', (_, path) => {
    const problems: string[] = []
    for (const s of appServices(loadCompose(path, SECRETS))) {
      const read = envVarsRead(s.app) // throws, naming the file, while an app has no src/config.ts
      for (const [name, from] of s.setBy) {
        if (!read.has(name) && !RUNTIME_VARS.has(name)) problems.push(`${s.name}: ${name} (from ${from}) is not read by ${s.app}`)
      }
    }
    expect(problems).toEqual([])
  })

  it.each([
    ['production', PROD],
    ['dev', DEV],
  ])("%s: each app's own config parser accepts the values compose gives it", async (_, path) => {
    const problems: string[] = []
    for (const s of appServices(loadCompose(path, SECRETS))) {
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
      expect(ops?.env.REDIS_URL).toBe(`redis://:${SECRETS.REDIS_PASSWORD}@redis:6379`)
    }
  })

  it.each([
    ['production', PROD],
    ['dev', DEV],
  ])('%s: no password has a default; each one missing stops compose with a message naming it', (_, path) => {
    for (const name of REQUIRED[path] as (keyof typeof SECRETS)[]) {
      const vars: Record<string, string> = { ...SECRETS }
      delete vars[name]
      expect(() => loadCompose(path, vars), `${rel(path)} without ${name}`).toThrow(name)
    }
    // nothing falls back to a well-known password
    const text = readFileSync(path, 'utf8')
    expect(text).not.toMatch(/PASSWORD:-/)
    expect(text).not.toMatch(/PASSWORD: *(firehose|admin|postgres)\b/)
  })

  it.each([
    ['production', PROD],
    ['dev', DEV],
  ])('%s: Redis requires a password, and every app and the CLI connect with it', (_, path) => {
    const c = loadCompose(path, SECRETS)
    const redis = c.services.find((s) => s.name === 'redis')
    expect(String(redis?.raw.command)).toContain(`--requirepass ${SECRETS.REDIS_PASSWORD}`)
    expect(redis?.env.REDISCLI_AUTH, 'the redis-cli healthcheck authenticates').toBe(SECRETS.REDIS_PASSWORD)
    for (const s of c.services.filter((x) => x.app !== undefined)) {
      expect(s.env.REDIS_URL, `${s.name}: REDIS_URL`).toBeTruthy()
      expect(new URL(s.env.REDIS_URL as string).password, `${s.name}: REDIS_URL carries REDIS_PASSWORD`).toBe(SECRETS.REDIS_PASSWORD)
    }
  })

  it.each([
    ['production', PROD],
    ['dev', DEV],
  ])('%s: third-party images are pinned to a release, never latest', (_, path) => {
    for (const s of loadCompose(path, SECRETS).services) {
      if (s.raw.build !== undefined || s.app !== undefined) continue // this repository's images, built here
      const image = String(s.raw.image)
      const tag = /:([^/:]+)$/.exec(image)?.[1]
      expect(tag, `${s.name}: ${image} has no tag`).toBeTruthy()
      expect(tag, `${s.name}: ${image}`).not.toBe('latest')
      expect(tag, `${s.name}: ${image} must name a release (digits)`).toMatch(/\d/)
    }
  })

  it('production: Prometheus runs without its lifecycle API (no remote shutdown or reload)', () => {
    const prom = loadCompose(PROD, SECRETS).services.find((s) => s.name === 'prometheus')
    expect(JSON.stringify(prom?.raw.command)).not.toContain('enable-lifecycle')
    expect(JSON.stringify(prom?.raw.command)).not.toContain('enable-admin-api')
  })

  it.each([
    ['production', PROD],
    ['dev', DEV],
  ])('%s: every published port is bound to loopback (METRICS_BIND default), apps listen on METRICS_HOST inside', (_, path) => {
    for (const s of loadCompose(path, SECRETS).services) {
      for (const p of (s.raw.ports as string[] | undefined) ?? []) {
        const parts = String(p).split(':')
        expect(parts.length, `${s.name}: port ${p} must name the host address`).toBe(3)
        expect(parts[0], `${s.name}: port ${p}`).toBe('127.0.0.1')
      }
      if (s.app !== undefined && s.app !== 'ops') expect(s.env.METRICS_HOST, `${s.name}: METRICS_HOST`).toBe('0.0.0.0')
    }
  })
})
