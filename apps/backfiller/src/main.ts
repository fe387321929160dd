#!/usr/bin/env node
/**
 * firehose-backfiller: repo_backfill → getRepo → verify → firehose_backfill.
 * Configured by environment variables only (README.md); `startBackfiller` for in-process use.
 */
import { fileURLToPath } from 'node:url'
import { realpathSync } from 'node:fs'
import { ConfigError, createLogger, installCrashHandlers, onShutdownSignal, Watchdog } from '@firehose/service'
import { startBackfiller } from './backfiller.js'
import { loadConfig } from './config.js'

export { startBackfiller, type Backfiller, type BackfillerOverrides } from './backfiller.js'
export { loadConfig, type BackfillerConfig } from './config.js'
export type { RepoVerifier, VerifiedRepoView } from './verifier.js'

async function main(): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`firehose-backfiller: ${err.message}`)
      process.exit(2)
    }
    throw err
  }
  const logger = createLogger('backfiller', config.logLevel)
  installCrashHandlers(logger)
  const backfiller = await startBackfiller(config, { logger })
  const watchdog = new Watchdog(120_000, logger)
  const beat = setInterval(() => backfiller.healthy() && watchdog.beat(), 1000)
  beat.unref()
  watchdog.start()
  onShutdownSignal(logger, async () => {
    clearInterval(beat)
    watchdog.stop()
    await backfiller.close()
  })
}

const isEntryPoint = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
})()
if (isEntryPoint) await main()
