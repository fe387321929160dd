/**
 * The indexer's database API, for the consumer loop:
 *
 *   const database = createDb(config.databaseUrl, config.dbPoolMaxSize)
 *   await migrate(database, { migrationUrl: config.databaseMigrationUrl })
 *   const metrics = createIndexerMetrics(registry); metrics.observePool(database.pool)
 *   const { outcomes, failed } = await indexBatch(database, events, { metrics, verifier })
 *   await indexLabels(database, labels, metrics)
 *
 * Ack an entry once its outcome is anything but `failed` (applied, unchanged, stale, invalid
 * and ignored are all final); send failed ones back for redelivery / the DLQ.
 */
export { createDb, DbConfigError, type Database, type CreateDbOptions } from './db/database.js'
export type { DatabaseSchema } from './db/schema.js'
export { migrate, MigrationError, MIGRATION_LOCK_KEY, type MigrateOptions, type MigrateResult } from './db/migrator.js'
export {
  indexBatch,
  BatchWriteError,
  type BatchResult,
  type EventOutcome,
  type IndexBatchOptions,
  type OutcomeStatus,
} from './writer/index-batch.js'
export { trustingHandleVerifier, type HandleVerifier } from './writer/handles.js'
export { InvalidRecordError } from './writer/validate.js'
export { indexLabels, InvalidLabelError, type LabelOutcome } from './labels.js'
export { createIndexerMetrics, collectionLabel, type IndexerMetrics } from './metrics.js'
export { recordModules, moduleFor, type RecordModule } from './records/index.js'
