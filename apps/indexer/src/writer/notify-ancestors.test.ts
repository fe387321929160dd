/**
 * A reply's notification rows name the authors of its stored ancestors (up to bsky's depth), so
 * its batch must not read an ancestor that another batch is deleting without that delete
 * waiting for it: the delete's pass over the ancestor's descendants cannot see the uncommitted
 * reply, and the reply's row naming the deleted ancestor's author would stay. Found by a run of
 * the bench mix with 8 concurrent writers (0–3 of 44k `reply` rows differed from one writer's);
 * reproduced here with a forced interleaving: the reply's batch is held just after its
 * notification statement (by an aggregate lock it takes next) while the delete runs to the end.
 */
import pg from 'pg'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { StreamEvent } from '@firehose/streams'
import { createDb } from '../db/database.js'
import { createTestDb, type TestDb } from '../test/db.js'
import { createdAt, deleteEvent, did, strongRef, tid, uriOf, writeEvent } from '../test/events.js'
import { indexBatch } from './index-batch.js'
import { LOCK_AGG, LOCK_DID } from './sql.js'

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

/** Until at least `n` advisory lock requests of this database wait (a batch reached the lock held for it). */
async function waitingLocks(n: number): Promise<void> {
  for (let i = 0; ; i++) {
    const waiting = await t.database.pool.query(`SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
    if (waiting.rows[0].n >= n) return
    if (i > 400) {
      const all = await t.database.pool.query(`SELECT locktype, classid, objid, mode, granted FROM pg_locks WHERE locktype = 'advisory'`)
      throw new Error(`a batch never reached the lock held for it: ${JSON.stringify(all.rows)}`)
    }
    await new Promise((r) => setTimeout(r, 25))
  }
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
      await waitingLocks(1) // until the reply's batch waits on it
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

describe('reply notifications and concurrent writes of ancestors', () => {
  // g ← p ← r, each by another author; r names p as its root too (as the bench mix does), so
  // nothing in r's record names g
  const [G, P, R] = [did(81), did(82), did(83)]
  const [gu, pu] = [uriOf(G, POST, 'g'), uriOf(P, POST, 'p')]
  const postG = post(G, 'g', 1)
  const postP = post(P, 'p', 2, { root: gu, parent: gu })
  const postR = post(R, 'r', 3, { root: pu, parent: pu })

  it("a reply whose parent and grandparent are written while its batch runs notifies the grandparent's author", async () => {
    await index([postG])
    await index([postP])
    await index([postR])
    const sequential = await notifs()
    expect(sequential).toContain(`${G} ${R} reply ${uriOf(R, POST, 'r')}`)

    await t.database.pool.query(`TRUNCATE record, record_tombstone, post, op_thread_reply, notification, post_agg, profile_agg`)
    // (straight to Postgres: session locks through pgbouncer's transaction pooling would stay on
    // whichever server connection took them, which the batches are then given)
    const holder = new pg.Client({ connectionString: t.directUrl })
    await holder.connect()
    // session locks, let go one at a time
    const lockR = [LOCK_DID, R] as const
    const lockG = [LOCK_AGG, `profile_agg:${G}`] as const
    // r's batch in another indexer process (its own database handle): within one process the
    // in-process gate (writer/key-gate.ts) would keep p's write back until r's batch is done
    const other = createDb(t.url, 2)
    try {
      // r's batch reads the chain above p (not stored yet), then waits for its DID's lock
      await holder.query('SELECT pg_advisory_lock($1::int, hashtext($2))', [...lockR])
      // g's batch will wait after its notification statement (on the aggregate lock it takes next)
      await holder.query('SELECT pg_advisory_lock($1::int, hashtext($2))', [...lockG])
      const replying = indexBatch(other, [postR]).then((res) => expect(res.failed).toEqual([]))
      await waitingLocks(1)
      await index([postP]) // p committed while g is not stored yet
      const writingG = index([postG]) // its pass over g's descendants sees p, not r (not written)
      await waitingLocks(2)
      // r's batch goes on while g's is not committed: it must wait for g's (or its rows miss g's
      // author, and g's pass has missed r); give it the time it takes on its own, then let g go
      await holder.query('SELECT pg_advisory_unlock($1::int, hashtext($2))', [...lockR])
      await Promise.race([replying, new Promise((r) => setTimeout(r, 1500))])
      await holder.query('SELECT pg_advisory_unlock($1::int, hashtext($2))', [...lockG])
      await Promise.all([replying, writingG])
    } finally {
      await holder.end()
      await other.close()
    }
    expect(await notifs()).toEqual(sequential)
  })
})

describe('reply notifications and concurrent deletes of descendants', () => {
  // p and r arrive before g (p replies to g, r to p): g's batch recomputes its stored
  // descendants p and r and adds their rows naming g's author, while another batch deletes r
  const [G, P, R] = [did(91), did(92), did(93)]
  const [gu, pu] = [uriOf(G, POST, 'g'), uriOf(P, POST, 'p')]
  const postG = post(G, 'g', 1)
  const postP = post(P, 'p', 2, { root: gu, parent: gu })
  const postR = post(R, 'r', 3, { root: pu, parent: pu })
  const deleteR = deleteEvent(R, POST, 'r', tid(5))

  it("a descendant deleted while an ancestor's batch recomputes it keeps no row", async () => {
    await index([postP, postR])
    await index([postG])
    await index([deleteR])
    const sequential = await notifs()
    expect(sequential).toEqual([`${G} ${P} reply ${uriOf(P, POST, 'p')}`])

    await t.database.pool.query(`TRUNCATE record, record_tombstone, post, op_thread_reply, notification, post_agg, profile_agg`)
    await index([postP, postR])
    const holder = new pg.Client({ connectionString: t.directUrl })
    await holder.connect()
    const lockG = [LOCK_AGG, `profile_agg:${G}`] as const
    try {
      // g's batch will wait after its notification statement (on the aggregate lock it takes next)
      await holder.query('SELECT pg_advisory_lock($1::int, hashtext($2))', [...lockG])
      const writingG = index([postG])
      await waitingLocks(1)
      // the delete of r must not finish before g's batch, whose rows for r it cannot see yet;
      // give it the time it takes on its own, then let g's batch go
      const deleting = index([deleteR])
      await Promise.race([deleting, new Promise((r) => setTimeout(r, 1500))])
      await holder.query('SELECT pg_advisory_unlock($1::int, hashtext($2))', [...lockG])
      await Promise.all([writingG, deleting])
    } finally {
      await holder.end()
    }
    expect(await notifs()).toEqual(sequential)
  })
})

describe('reply notifications and an ancestor missing above a stored parent', () => {
  // a ← b ← c ← r; c is stored before b (its parent), so r's batch, reading the chain above c
  // before its locks, stops at b (not stored yet) and does not see a; b is written, then a is
  // deleted while r's batch runs
  const [A, Bd, C, R] = [did(101), did(102), did(103), did(104)]
  const [au, bu, cu] = [uriOf(A, POST, 'a'), uriOf(Bd, POST, 'b'), uriOf(C, POST, 'c')]
  const postA = post(A, 'a', 1)
  const postB = post(Bd, 'b', 2, { root: au, parent: au })
  const postC = post(C, 'c', 3, { root: bu, parent: bu })
  const postR = post(R, 'r', 4, { root: cu, parent: cu })
  const deleteA = deleteEvent(A, POST, 'a', tid(6))

  it('a reply does not name the author of an ancestor deleted while its batch runs, found above one missing at the first read', async () => {
    await index([postA])
    await index([postC])
    await index([postB])
    await index([postR])
    await index([deleteA])
    const sequential = await notifs()
    expect(sequential.some((n) => n.startsWith(`${A} `))).toBe(false)

    await t.database.pool.query(`TRUNCATE record, record_tombstone, post, op_thread_reply, notification, post_agg, profile_agg`)
    await index([postA])
    await index([postC])
    const holder = new pg.Client({ connectionString: t.directUrl })
    await holder.connect()
    const lockR = [LOCK_DID, R] as const
    const lockA = [LOCK_AGG, `profile_agg:${A}`] as const
    try {
      // r's batch reads the chain above c (b is not stored: it stops there), then waits for its DID's lock
      await holder.query('SELECT pg_advisory_lock($1::int, hashtext($2))', [...lockR])
      // the delete of a will wait after its notification statement (on the aggregate lock it takes next)
      await holder.query('SELECT pg_advisory_lock($1::int, hashtext($2))', [...lockA])
      const replying = index([postR])
      await waitingLocks(1)
      await index([postB]) // b committed: the chain above c now reaches a
      const deleting = index([deleteA]) // its pass over a's descendants sees b and c, not r
      await waitingLocks(2)
      // r's batch must now wait for the delete (or its rows name a's author, and the delete's
      // pass has missed r); give it the time it takes on its own, then let the delete go
      await holder.query('SELECT pg_advisory_unlock($1::int, hashtext($2))', [...lockR])
      await Promise.race([replying, new Promise((r) => setTimeout(r, 1500))])
      await holder.query('SELECT pg_advisory_unlock($1::int, hashtext($2))', [...lockA])
      await Promise.all([replying, deleting])
    } finally {
      await holder.end()
    }
    expect(await notifs()).toEqual(sequential)
  })
})
