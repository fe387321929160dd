/**
 * What docker/Dockerfile builds, checked without a Docker engine: the file's shape (per-app
 * targets on node:22-slim, non-root, HEALTHCHECK on /health, production-only trees), and that each
 * app's production tree — made by the same `pnpm deploy --prod` the build runs — loads and starts
 * with production dependencies only (a missing config stops it with a message naming the variable).
 */
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { APPS, ROOT } from '../apps/ops/src/test/deploy-checks.js'

const DOCKERFILE = readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8')

describe('docker/Dockerfile', () => {
  it('has a target per app and one for the CLI, on Node 22 slim', () => {
    expect(DOCKERFILE).toMatch(/^ARG NODE_IMAGE=node:22-slim$/m)
    for (const t of [...APPS, 'ops', 'build', 'runtime']) expect(DOCKERFILE).toMatch(new RegExp(`^FROM \\S+ AS ${t}$`, 'm'))
    for (const app of APPS) expect(DOCKERFILE).toContain(`COPY --from=build --chown=root:root /out/${app} /app`)
  })

  it('runs as the unprivileged node user, with a HEALTHCHECK on /health and the CLI on PATH', () => {
    const runtime = DOCKERFILE.slice(DOCKERFILE.indexOf('AS runtime'), DOCKERFILE.indexOf('AS ingester'))
    expect(runtime).toMatch(/^USER node$/m)
    expect(runtime).toMatch(/^HEALTHCHECK .*\n?.*\/health/m)
    expect(runtime).toContain('/usr/local/bin/ops')
    expect(DOCKERFILE.slice(DOCKERFILE.indexOf('AS ops'))).toMatch(/^USER node$/m)
  })

  it('cuts production-only trees with pnpm deploy --prod', () => {
    expect(DOCKERFILE).toMatch(/pnpm --filter "@firehose\/\$app" deploy --prod/)
    expect(DOCKERFILE).toContain('for app in ingester backfiller indexer ops')
  })

  it('has a .dockerignore for its context (the repository root)', () => {
    const ignore = readFileSync(join(ROOT, 'docker/Dockerfile.dockerignore'), 'utf8')
    for (const p of ['**/node_modules', '**/dist', '.git']) expect(ignore).toContain(p)
  })
})

describe('production trees (pnpm deploy --prod, as the image build makes them)', () => {
  const out = mkdtempSync(join(tmpdir(), 'fw-deploy-'))
  afterAll(() => rmSync(out, { recursive: true, force: true }))
  const pnpm = spawnSync('pnpm', ['--version'], { encoding: 'utf8' }).status === 0
  const DEV_ONLY = ['vitest', 'typescript', 'turbo', '@firehose/testkit', '@atproto/dev-env', '@atproto/bsky']
  const REQUIRED: Record<string, RegExp> = {
    ingester: /invalid configuration: INGESTER_RELAY_HOSTS/,
    backfiller: /invalid configuration: BACKFILLER_CONSUMER: is required/,
    indexer: /invalid configuration: DATABASE_URL: is required; INDEXER_CONSUMER: is required/,
    ops: /usage: ops <command>/,
  }

  it.each([...APPS, 'ops'])(
    '%s: loads with production dependencies only',
    async (app) => {
      if (!pnpm) throw new Error('pnpm is not on PATH (source scripts/env.sh)')
      if (!existsSync(join(ROOT, 'apps', app, 'dist/main.js'))) throw new Error(`build ${app} first (pnpm build)`)
      const dir = join(out, app)
      const d = await exec('pnpm', ['--filter', `@firehose/${app}`, 'deploy', '--prod', '--legacy', '--offline', dir], {
        cwd: ROOT,
        timeout: 240_000,
      })
      expect(d.code, `pnpm deploy failed:\n${d.stdout}\n${d.stderr}`).toBe(0)
      // A devDependency may also be a production dependency of a workspace package (ioredis via
      // @firehose/streams), so check for what only tests and builds use.
      const installed = readdirSync(join(dir, 'node_modules/.pnpm'))
      for (const dev of DEV_ONLY) {
        expect(
          installed.some((p) => p.startsWith(`${dev.replace('/', '+')}@`)),
          `${dev} in the production tree`,
        ).toBe(false)
      }
      // An empty environment: the app must load every module, then stop on its configuration.
      const r = await exec(process.execPath, ['dist/main.js'], { cwd: dir, env: { PATH: process.env.PATH }, timeout: 30_000 })
      expect(r.stderr + r.stdout).toMatch(REQUIRED[app] as RegExp)
      expect(r.code).not.toBe(0)
      expect(r.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/)
    },
    300_000,
  )
})

function exec(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout: number },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { ...opts, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}
