import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { DatabaseSchema } from './schema.js'

/**
 * The indexer's Postgres handle. Everything it runs is safe through pgbouncer in transaction
 * mode: node-postgres sends parameterised queries as unnamed statements, the pool sets no
 * startup parameters and no session state, and `SET LOCAL` / `pg_advisory_xact_lock` are only
 * used inside transactions.
 */
export interface Database {
  db: Kysely<DatabaseSchema>
  pool: pg.Pool
  close(): Promise<void>
}

export interface CreateDbOptions {
  /** Idle connections kept open rather than closed after `idleTimeoutMillis` (DB_POOL_MIN_IDLE). */
  minIdle?: number
  idleTimeoutMillis?: number
  connectionTimeoutMillis?: number
}

export class DbConfigError extends Error {
  override name = 'DbConfigError'
}

export function createDb(url: string, poolMax: number, opts: CreateDbOptions = {}): Database {
  if (!url) throw new DbConfigError('database url is required')
  if (!Number.isInteger(poolMax) || poolMax < 1) throw new DbConfigError('poolMax must be a positive integer')
  const minIdle = opts.minIdle ?? 0
  if (!Number.isInteger(minIdle) || minIdle < 0 || minIdle > poolMax) {
    throw new DbConfigError('minIdle must be an integer between 0 and poolMax')
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: poolMax,
    min: minIdle,
    idleTimeoutMillis: opts.idleTimeoutMillis ?? 30_000,
    connectionTimeoutMillis: opts.connectionTimeoutMillis ?? 10_000,
  })
  // An idle client losing its connection must not crash the process: the pool drops it.
  pool.on('error', () => {})
  // A checked-out client whose server goes away (Postgres or pgbouncer restart) emits 'error'
  // between queries; without a listener that is an uncaught exception. Its current or next query
  // fails instead, and the caller holds the batch until the database answers again.
  pool.on('connect', (client) => client.on('error', () => {}))
  const db = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) })
  let closing: Promise<void> | undefined
  return {
    db,
    pool,
    close() {
      closing ??= db.destroy()
      return closing
    },
  }
}
