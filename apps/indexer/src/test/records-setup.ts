import { afterAll, beforeAll } from 'vitest'
import type { Database } from '../db/database.js'
import { createTestDb, type TestDb } from './db.js'
import { tid } from './events.js'

export const POST = 'app.bsky.feed.post'

/**
 * The set-up of the record-type tests (writer/records-*.test.ts): a fresh database for the file,
 * `next()` for increasing revs, and `q` / `one` to read rows.
 */
export function recordsTestSetup() {
  let t: TestDb | undefined
  let rev = 100
  beforeAll(async () => {
    t = await createTestDb()
  })
  afterAll(async () => {
    await t?.drop()
  })
  const database = (): Database => (t as TestDb).database
  const q = async (text: string, params: unknown[] = []) => (await database().pool.query(text, params)).rows
  return {
    get database() {
      return database()
    },
    next: () => tid(rev++),
    q,
    one: async (text: string, params: unknown[] = []) => (await q(text, params))[0],
  }
}
