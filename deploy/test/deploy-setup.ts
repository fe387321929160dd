/** Paths, secrets and helpers shared by the deploy/ tests. */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, loadCompose, type App, type ComposeFile, type Service } from '../../apps/ops/src/test/deploy-checks.js'

export const DEPLOY = join(ROOT, 'deploy')
export const PROD = join(DEPLOY, 'docker-compose.yml')
export const DEV = join(DEPLOY, 'docker-compose.dev.yml')
export const PROMETHEUS = join(DEPLOY, 'prometheus/prometheus.yml')
export const RULES_DIR = join(DEPLOY, 'prometheus/rules')
export const RULE_FILES = readdirSync(RULES_DIR)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => join(RULES_DIR, f))
export const RULE_TESTS = join(DEPLOY, 'prometheus/tests')
export const DASHBOARDS = join(DEPLOY, 'grafana/dashboards')

export const CONSUMER_VAR: Record<App, string | undefined> = {
  ingester: undefined,
  backfiller: 'BACKFILLER_CONSUMER',
  indexer: 'INDEXER_CONSUMER',
}
export const INFRA_DEPENDENCIES: Record<App, string[]> = { ingester: ['redis'], backfiller: ['redis'], indexer: ['redis'] }

/** The secrets deploy/.env must set (compose refuses to start without them). */
export const SECRETS = { POSTGRES_PASSWORD: 'pg0123abcd', REDIS_PASSWORD: 'redis0123abcd', GRAFANA_ADMIN_PASSWORD: 'grafana0123abcd' }
export const REQUIRED: Record<string, (keyof typeof SECRETS)[]> = {
  [PROD]: ['POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'GRAFANA_ADMIN_PASSWORD'],
  [DEV]: ['POSTGRES_PASSWORD', 'REDIS_PASSWORD'],
}
/** The environment a validator runs in: no deploy/.env variable leaks in from the caller's shell. */
export const composeEnv = (vars: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, ...vars }
  for (const k of Object.keys(SECRETS)) if (!(k in vars)) delete env[k]
  return env
}

export const appServices = (c: ComposeFile) => c.services.filter((s): s is Service & { app: App } => s.app !== undefined && s.app !== 'ops')
export const composeFiles = () => [loadCompose(PROD, SECRETS), loadCompose(DEV, SECRETS)]
