import { sql } from 'kysely'
import { createDb, type Database } from './database.js'
import { migrations as allMigrations, type Migration } from './migrations/index.js'
import { ensureStatementFunctions, type StatementFunction } from './statement-functions.js'
import { ANCESTORS, NOTIFY } from '../writer/notifications.js'
import { FLAGS_READ } from '../writer/post-flags.js'

/** The writer's statements run as functions (db/statement-functions.ts). */
export const STATEMENT_FUNCTIONS: readonly StatementFunction[] = [NOTIFY, FLAGS_READ, ANCESTORS]

/**
 * Key of the transaction-scoped advisory lock migrators take. Session advisory locks do not
 * survive pgbouncer's transaction mode; `pg_advisory_xact_lock` does, and it is released by
 * the COMMIT that also makes the migrations visible, so a waiting migrator sees them applied.
 */
export const MIGRATION_LOCK_KEY = 0x1dc5_fe11n

export class MigrationError extends Error {
  override name = 'MigrationError'
  constructor(
    message: string,
    readonly migration: string,
    override readonly cause: unknown,
  ) {
    super(message)
  }
}

export interface MigrateResult {
  applied: string[]
}

export interface MigrateOptions {
  /** A direct Postgres URL (DATABASE_MIGRATION_URL) to run over instead of the pooled db. */
  migrationUrl?: string
  /** Override the list (tests). */
  migrations?: readonly Migration[]
  /** The plan-kept statements to create after the migrations (default: the writer's). */
  functions?: readonly StatementFunction[]
  /**
   * `lock_timeout` for the DDL (default 10 s): an ALTER waiting behind a long AppView query
   * would otherwise block every query queued after it. On timeout the migration is retried.
   */
  lockTimeoutMs?: number
  /** Attempts when the DDL times out waiting for a table lock (default 5). */
  attempts?: number
}

/**
 * Apply every pending migration in ONE transaction under `pg_advisory_xact_lock`, then create
 * this build's statement functions that are missing (db/statement-functions.ts): many
 * indexers may start at once; the first applies, the others wait on the lock and then find
 * nothing to do. Applied names are kept in `indexer_migration` (not kysely's tables, which
 * bsky's own migrator owns).
 */
export async function migrate(target: Database | string, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const url = opts.migrationUrl ?? (typeof target === 'string' ? target : undefined)
  const own = url !== undefined ? createDb(url, 1) : undefined
  const database = own ?? (target as Database)
  const list = opts.migrations ?? allMigrations
  const lockTimeout = `${Math.max(1, Math.floor(opts.lockTimeoutMs ?? 10_000))}ms`
  let attempts = Math.max(1, opts.attempts ?? 5)
  try {
    for (;;) {
      try {
        return await migrateOnce(database, list, opts.functions ?? STATEMENT_FUNCTIONS, lockTimeout)
      } catch (err) {
        const code = err instanceof MigrationError ? (err.cause as { code?: unknown })?.code : undefined
        if (code !== '55P03' || --attempts <= 0) throw err
      }
    }
  } finally {
    if (own) await own.close()
  }
}

/**
 * Create this build's statement functions that are missing, under the migration lock, outside
 * any migration: the writer's answer to a function Postgres does not find (a database restored
 * from before this build migrated it, an indexer started with INDEXER_MIGRATE=false before any
 * of its build migrated). Returns the names created.
 */
export async function ensureWriterFunctions(database: Database, functions = STATEMENT_FUNCTIONS): Promise<string[]> {
  return database.db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`.execute(trx)
    return ensureStatementFunctions(trx, functions)
  })
}

async function migrateOnce(
  database: Database,
  list: readonly Migration[],
  functions: readonly StatementFunction[],
  lockTimeout: string,
): Promise<MigrateResult> {
  return database.db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`.execute(trx)
    // after the advisory lock (which must wait as long as another migrator runs)
    await sql`SELECT set_config('lock_timeout', ${lockTimeout}, true)`.execute(trx)
    await sql`CREATE TABLE IF NOT EXISTS indexer_migration (
      name character varying PRIMARY KEY,
      "appliedAt" character varying NOT NULL
    )`.execute(trx)
    const done = new Set((await trx.selectFrom('indexer_migration').select('name').execute()).map((r) => r.name))
    const applied: string[] = []
    for (const m of list) {
      if (done.has(m.name)) continue
      for (const stmt of m.statements) {
        try {
          await sql.raw(stmt).execute(trx)
        } catch (err) {
          throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`, m.name, err)
        }
      }
      await trx.insertInto('indexer_migration').values({ name: m.name, appliedAt: new Date().toISOString() }).execute()
      applied.push(m.name)
    }
    try {
      await ensureStatementFunctions(trx, functions)
    } catch (err) {
      throw new MigrationError(`statement functions: ${(err as Error).message}`, 'statement functions', err)
    }
    return { applied }
  })
}
