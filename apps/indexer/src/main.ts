#!/usr/bin/env node
/** `node dist/main.js`: the indexer, configured by environment variables only (README.md). */
import { isEntryPoint, runService } from '@firehose/service'
import { loadConfig } from './config.js'
import { startIndexer } from './indexer.js'

export { startIndexer, type RunningIndexer } from './indexer.js'
export { loadConfig, type IndexerConfig } from './config.js'

// A read loop stuck (Redis not answering, a hung call) turns /health false after
// INDEXER_WATCHDOG_MS and exits the process (code 70) after twice that, so the supervisor
// restarts it: the entries it held are reclaimed by the other consumers meanwhile.
if (isEntryPoint(import.meta.url)) {
  await runService({
    name: 'indexer',
    loadConfig,
    logLevel: (c) => c.logLevel,
    watchdogMs: (c) => c.watchdogMs,
    deprecatedVariables: (c) => c.deprecatedVariables,
    start: (c, logger) => startIndexer(c, logger),
  })
}
