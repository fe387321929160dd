/**
 * A reply's notification rows name the authors of its stored ancestors (up to bsky's depth), so
 * its batch must not read an ancestor that another batch is deleting without that delete
 * waiting for it: the delete's pass over the ancestor's descendants cannot see the uncommitted
 * reply, and the reply's row naming the deleted ancestor's author would stay. Found by a run of
 * the bench mix with 8 concurrent writers (0–3 of 44k `reply` rows differed from one writer's);
 * reproduced here with a forced interleaving: the reply's batch is held just after its
 * notification statement (by an aggregate lock it takes next) while the delete runs to the end.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { StreamEvent } from '@firehose/streams'
import { createTestDb, type TestDb } from '../test/db.js'
import { createdAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { indexBatch } from './index-batch.js'
import { LOCK_AGG } from './sql.js'

let t: TestDb
const POST = 'app.bsky.feed.post'
const [A, B, C, D] = [did(71), did(72), did(73), did(74)]
const [a, g, p] = [uriOf(A, POST, 'a'), uriOf(B, POST, 'g'), uriOf(C, POST, 'p')]

const post = (d: string, rkey: string, rev: number, reply?: { root: string; parent: string }) =>
  writeEvent(d, POST, rkey, tid(rev), {
    text: rkey,
    createdAt,
    ...(reply ? { reply: { root: strongRef(reply.root), parent: strongRef(reply.parent) } } : {}),
  })
// a ← g ← p (a thread of three authors), then D's reply r to p, and B's delete of g
const thread = [post(A, 'a', 1), post(B, 'g', 2, { root: a, parent: a }), post(C, 'p', 3, { root: a, parent: g })]
const replyR = post(D, 'r', 4, { root: a, parent: p })
const deleteG = deleteEvent(B, POST, 'g', tid(5))

async function index(events: StreamEvent[]): Promise<void> {
  const res = await indexBatch(t.database, events)
  expect(res.failed).toEqual([])
}
async function notifs(): Promise<string[]> {
  const res = await t.database.pool.query(`SELECT did, author, reason, "recordUri" FROM notification ORDER BY 1, 2, 3, 4`)
  return res.rows.map((r: Record<string, string>) => `${r.did} ${r.author} ${r.reason} ${r.recordUri}`)
}

beforeAll(async () => {
  t = await createTestDb()
})
afterAll(async () => {
  await t?.drop()
})
beforeEach(async () => {
  await t.database.pool.query(`TRUNCATE record, record_tombstone, post, op_thread_reply, notification, post_agg, profile_agg`)
})

describe('reply notifications and concurrent deletes of ancestors', () => {
  it('a reply written while another batch deletes its grandparent ends as in either order', async () => {
    // the tables one writer leaves (rev order: the reply, then the delete)
    await index(thread)
    await index([replyR])
    await index([deleteG])
    const sequential = await notifs()
    expect(sequential.some((n) => n.startsWith(`${B} `))).toBe(false)

    await t.database.pool.query(`TRUNCATE record, record_tombstone, post, op_thread_reply, notification, post_agg, profile_agg`)
    await index(thread)
    // hold the aggregate lock the reply's batch takes after its notification statement
    const holder = await t.database.pool.connect()
    try {
      await holder.query('BEGIN')
      await holder.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [LOCK_AGG, `profile_agg:${D}`])
      const replying = index([replyR])
      // until the reply's batch waits on it
      for (let i = 0; ; i++) {
        const waiting = await t.database.pool.query(`SELECT count(*)::int AS n FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
        if (waiting.rows[0].n > 0) break
        if (i > 400) throw new Error('the reply batch never reached its aggregate lock')
        await new Promise((r) => setTimeout(r, 25))
      }
      // the delete of g: it must not finish before the reply's batch that read g (or the reply's
      // row naming g's author survives it); give it the time it takes on its own, then let go
      const deleting = index([deleteG])
      await Promise.race([deleting, new Promise((r) => setTimeout(r, 1500))])
      await holder.query('COMMIT')
      await Promise.all([replying, deleting])
    } finally {
      holder.release()
    }
    expect(await notifs()).toEqual(sequential)
  })
})
