import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../config.js'
import { createTestDb, type TestDb } from '../test/db.js'
import { createDb } from './database.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('createDb: DB_POOL_MIN_IDLE', () => {
  let db: TestDb
  beforeAll(async () => {
    db = await createTestDb({ migrated: false })
  })
  afterAll(async () => {
    await db?.drop()
  })

  /** Opens `n` connections at once, releases them, waits past the idle timeout: how many stay. */
  async function keptAfterIdle(minIdle: number): Promise<number> {
    const database = createDb(db.url, 4, { minIdle, idleTimeoutMillis: 100 })
    try {
      const clients = await Promise.all([1, 2, 3, 4].map(() => database.pool.connect()))
      for (const c of clients) c.release()
      expect(database.pool.totalCount).toBe(4)
      // the pool reaps idle clients 100 ms after release; give it ample time
      for (let i = 0; i < 50 && database.pool.totalCount > minIdle; i++) await sleep(100)
      await sleep(300)
      return database.pool.totalCount
    } finally {
      await database.close()
    }
  }

  it('keeps DB_POOL_MIN_IDLE connections open when idle, and closes the rest', async () => {
    expect(await keptAfterIdle(2)).toBe(2)
    expect(await keptAfterIdle(0)).toBe(0)
  })

  it('is read from the environment, at most DB_POOL_MAX_SIZE', () => {
    const base = { DATABASE_URL: 'postgres://x/y', INDEXER_CONSUMER: 'c' }
    expect(loadConfig({ ...base, DB_POOL_MIN_IDLE: '3' }).dbPoolMinIdle).toBe(3)
    expect(() => loadConfig({ ...base, DB_POOL_MAX_SIZE: '4', DB_POOL_MIN_IDLE: '5' })).toThrow(/DB_POOL_MIN_IDLE: must be <= 4/)
  })
})
