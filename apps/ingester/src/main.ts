#!/usr/bin/env node
/** `node dist/main.js`: the ingester, configured by environment variables only. */
import { isEntryPoint, runService } from '@firehose/service'
import { loadConfig } from './config.js'
import { startIngester } from './ingester.js'

export { startIngester, type Ingester, type IngesterDeps } from './ingester.js'
export { loadConfig, readConfig, toWsBase, toHttpBase, type IngesterConfig } from './config.js'
export { decodeFirehoseFrame, type FirehoseDecoder, type FirehoseFrame } from './relay.js'

/** The ingester's main loop is its event loop (see Ingester.healthy): 60 s without a beat and /health is false. */
const WATCHDOG_MS = 60_000

// run only when executed, not when imported (tests and the bench import startIngester)
if (isEntryPoint(import.meta.url)) {
  await runService({
    name: 'ingester',
    loadConfig,
    logLevel: (c) => c.logLevel,
    watchdogMs: () => WATCHDOG_MS,
    deprecatedVariables: (c) => c.deprecatedVariables,
    start: (c, logger) => startIngester(c, { logger }),
  })
}
