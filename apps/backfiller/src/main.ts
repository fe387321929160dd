#!/usr/bin/env node
/**
 * firehose-backfiller: repo_backfill → getRepo → verify → firehose_backfill.
 * Configured by environment variables only (README.md); `startBackfiller` for in-process use.
 */
import { isEntryPoint, runService } from '@firehose/service'
import { BACKFILLER_WATCHDOG_MS, startBackfiller } from './backfiller.js'
import { loadConfig } from './config.js'

export { startBackfiller, type Backfiller, type BackfillerOverrides } from './backfiller.js'
export { loadConfig, type BackfillerConfig } from './config.js'
export type { RepoVerifier, VerifiedRepoView } from './verifier.js'

if (isEntryPoint(import.meta.url)) {
  await runService({
    name: 'backfiller',
    loadConfig,
    logLevel: (c) => c.logLevel,
    watchdogMs: () => BACKFILLER_WATCHDOG_MS,
    deprecatedVariables: (c) => c.deprecatedVariables,
    start: (c, logger) => startBackfiller(c, { logger }),
  })
}
