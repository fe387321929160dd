#!/usr/bin/env node
import { ConfigError, createLogger, installCrashHandlers, onShutdownSignal } from '@firehose/service'
import { loadConfig, type IndexerConfig } from './config.js'
import { startIndexer } from './indexer.js'

let config: IndexerConfig
try {
  config = loadConfig()
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`indexer: ${err.message}`)
    process.exit(2)
  }
  throw err
}
const logger = createLogger('indexer', config.logLevel)
installCrashHandlers(logger)
const indexer = await startIndexer(config, logger)
onShutdownSignal(logger, () => indexer.close())
