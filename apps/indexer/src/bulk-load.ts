#!/usr/bin/env node
/**
 * `node dist/bulk-load.js start|status|finish`: the bulk load of a first backfill
 * (docs/operations.md "First backfill"). `start` opens it (bulk-mode indexers, INDEXER_MODE=bulk,
 * then defer derived state); `status` prints it (JSON); `finish` closes it and derives what was
 * deferred (resumable: run it again after a crash). Configured like the indexer: DATABASE_URL;
 * BULK_FINISH_CHUNK records a transaction (default 1000), BULK_FINISH_CONCURRENCY transactions at once
 * (default 4); BULK_DEFER_INDEXES (auto: when the database holds no record; true; false) whether
 * `start` drops the AppView-only indexes for the finish to build; INDEXER_NOTIFICATIONS as the indexers.
 */
import { ConfigError, createLogger, EXIT_CONFIG, isEntryPoint, parseConfig } from '@firehose/service'
import { createDb } from './db/database.js'
import { migrate } from './db/migrator.js'
import { finishBulkLoad } from './bulk/finish.js'
import { readBulkLoad, startBulkLoad, stateOf } from './bulk/load.js'

const COMMANDS = ['start', 'status', 'finish'] as const

if (isEntryPoint(import.meta.url)) {
  const logger = createLogger('bulk-load')
  const command = process.argv[2]
  if (!COMMANDS.includes(command as (typeof COMMANDS)[number])) {
    logger.error({ command }, `usage: bulk-load ${COMMANDS.join('|')}`)
    process.exit(2)
  }
  const readConfig = () =>
    parseConfig(process.env, (r) => ({
      databaseUrl: r.url('DATABASE_URL', undefined, ['postgres:', 'postgresql:']) ?? r.required('DATABASE_URL'),
      databaseMigrationUrl: r.url('DATABASE_MIGRATION_URL', undefined, ['postgres:', 'postgresql:']),
      chunk: r.int('BULK_FINISH_CHUNK', 1000, { min: 1, max: 100_000 }),
      concurrency: r.int('BULK_FINISH_CONCURRENCY', 4, { min: 1, max: 64 }),
      deferIndexes: r.oneOf('BULK_DEFER_INDEXES', 'auto', ['auto', 'true', 'false'] as const),
      notifications: r.bool('INDEXER_NOTIFICATIONS', true),
    }))
  let config: ReturnType<typeof readConfig>
  try {
    config = readConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`bulk-load: ${err.message}\n`)
    process.exit(EXIT_CONFIG)
  }
  // (the finish's transactions at once, and its reads ahead)
  const database = createDb(config.databaseUrl, config.concurrency + 2)
  try {
    await migrate(database, { migrationUrl: config.databaseMigrationUrl })
    if (command === 'start') {
      const deferIndexes = config.deferIndexes === 'auto' ? 'auto' : config.deferIndexes === 'true'
      const load = await startBulkLoad(database, { deferIndexes })
      logger.info(
        { startedAt: load.startedAt, deferredIndexes: load.deferredIndexes.map((i) => i.name) },
        'bulk load started: start the indexers with INDEXER_MODE=bulk',
      )
    } else if (command === 'status') {
      const load = await readBulkLoad(database)
      process.stdout.write(`${JSON.stringify({ state: stateOf(load), ...load })}\n`)
    } else {
      const t0 = Date.now()
      const res = await finishBulkLoad(database, {
        chunk: config.chunk,
        concurrency: config.concurrency,
        notifications: config.notifications,
        logger,
      })
      logger.info({ ...res, seconds: Math.round((Date.now() - t0) / 1000) }, 'bulk load finished')
    }
  } catch (err) {
    logger.error({ err: (err as Error).message }, `bulk-load ${command} failed`)
    process.exitCode = 1
  } finally {
    await database.close()
  }
}
