import { randomBytes } from 'node:crypto'
import pg from 'pg'

export interface TestDatabase {
  name: string
  /** Through pgbouncer (transaction pooling), as the apps connect. */
  url: string
  /** Straight to Postgres. */
  directUrl: string
  drop(): Promise<void>
}

const withDb = (url: string, db: string): string => {
  const u = new URL(url)
  u.pathname = `/${db}`
  return u.toString()
}

/** A fresh database for one test suite, reachable through pgbouncer's wildcard entry. */
export async function createTestDatabase(prefix = 'test'): Promise<TestDatabase> {
  const direct = process.env.DATABASE_DIRECT_URL ?? process.env.DATABASE_URL
  const pooled = process.env.DATABASE_URL
  if (!direct || !pooled)
    throw new Error('DATABASE_URL / DATABASE_DIRECT_URL not set: run tests through scripts/test.sh or vitest (global setup)')
  const name = `${prefix}_${randomBytes(5).toString('hex')}`
  const admin = new pg.Client({ connectionString: direct })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  return {
    name,
    url: withDb(pooled, name),
    directUrl: withDb(direct, name),
    async drop() {
      const c = new pg.Client({ connectionString: direct })
      await c.connect()
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await c.end()
      }
    },
  }
}
