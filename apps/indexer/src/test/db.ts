import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { createDb, type Database } from '../db/database.js'
import { migrate } from '../db/migrator.js'

export interface TestDb {
  name: string
  /** Through pgbouncer (transaction pooling). */
  url: string
  /** Direct Postgres. */
  directUrl: string
  database: Database
  drop(): Promise<void>
}

function withDb(url: string, name: string): string {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

async function admin(sqlText: string): Promise<void> {
  const direct = process.env.DATABASE_DIRECT_URL
  if (!direct) throw new Error('DATABASE_DIRECT_URL is not set (run scripts/services.sh start)')
  const client = new pg.Client({ connectionString: direct })
  await client.connect()
  try {
    await client.query(sqlText)
  } finally {
    await client.end()
  }
}

/** A fresh database `idx_<random>` reached through pgbouncer; `migrated` applies our migrations. */
export async function createTestDb(opts: { migrated?: boolean; poolMax?: number } = {}): Promise<TestDb> {
  const pooled = process.env.DATABASE_URL
  const direct = process.env.DATABASE_DIRECT_URL
  if (!pooled || !direct) throw new Error('DATABASE_URL / DATABASE_DIRECT_URL are not set')
  const name = `idx_${randomBytes(6).toString('hex')}`
  await admin(`CREATE DATABASE ${name}`)
  const url = withDb(pooled, name)
  const database = createDb(url, opts.poolMax ?? 4)
  if (opts.migrated !== false) await migrate(database)
  return {
    name,
    url,
    directUrl: withDb(direct, name),
    database,
    async drop() {
      await database.close()
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    },
  }
}

/** Every row of a table, as sorted JSON lines (values as strings), for comparisons. */
export async function dumpTable(database: Database, table: string, exclude: readonly string[] = []): Promise<string[]> {
  const res = await database.pool.query(`SELECT * FROM "${table}"`)
  return res.rows
    .map((row: Record<string, unknown>) => {
      const out: Record<string, string | null> = {}
      for (const k of Object.keys(row).sort()) {
        if (exclude.includes(k)) continue
        const v = row[k]
        out[k] = v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : String(v)
      }
      return JSON.stringify(out)
    })
    .sort()
}
