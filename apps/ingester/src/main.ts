#!/usr/bin/env node
/** `node dist/main.js`: the ingester, configured by environment variables only. */
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { ConfigError, createLogger, installCrashHandlers, onShutdownSignal } from '@firehose/service'
import { loadConfig } from './config.js'
import { startIngester } from './ingester.js'

export { startIngester, type Ingester, type IngesterDeps } from './ingester.js'
export { loadConfig, readConfig, toWsBase, toHttpBase, type IngesterConfig } from './config.js'
export { decodeFirehoseFrame, type FirehoseDecoder, type FirehoseFrame } from './relay.js'

async function main(): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ingester: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  const logger = createLogger('ingester', config.logLevel)
  installCrashHandlers(logger)
  const ingester = await startIngester(config, { logger })
  onShutdownSignal(logger, () => ingester.close())
}

// run only when executed, not when imported (tests and the bench import startIngester)
const invoked = process.argv[1]
if (invoked && import.meta.url === pathToFileURL(realpathSync(invoked)).href) void main()
