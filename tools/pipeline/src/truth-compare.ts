import type pg from 'pg'
import { readRepo, type TruthRecord } from '@firehose/testkit'

export interface ExpectedActor {
  did: string
  handle: string
  /** Records as read from the repo (getRepo) once activity stopped. */
  records: TruthRecord[]
  status?: string
}

const TABLE_OF: Record<string, string> = {
  'app.bsky.feed.post': 'post',
  'app.bsky.feed.like': 'like',
  'app.bsky.feed.repost': 'repost',
  'app.bsky.graph.follow': 'follow',
  'app.bsky.graph.block': 'actor_block',
  'app.bsky.actor.profile': 'profile',
}

/** Read every actor's repo from the PDS: the ground truth the tables must equal. */
export async function readTruth(pdsUrl: string, actors: { did: string; handle: string }[]): Promise<ExpectedActor[]> {
  const out: ExpectedActor[] = []
  for (const a of actors) out.push({ ...a, records: (await readRepo(pdsUrl, a.did)).records })
  return out
}

const sorted = (xs: string[]) => [...xs].sort()

function diffSets(what: string, expected: string[], actual: string[]): string[] {
  const e = new Set(expected)
  const a = new Set(actual)
  const missing = expected.filter((x) => !a.has(x))
  const extra = actual.filter((x) => !e.has(x))
  const out: string[] = []
  if (missing.length) out.push(`${what}: missing ${missing.length}: ${missing.slice(0, 3).join(', ')}`)
  if (extra.length) out.push(`${what}: unexpected ${extra.length}: ${extra.slice(0, 3).join(', ')}`)
  return out
}

/**
 * Compare the AppView tables with the ground truth, by query: `record` (uri + cid of every live
 * record), each record table (uri + cid by creator), and `actor` (handle, status). Returns the
 * differences; empty means equal.
 */
export async function compareTables(pool: pg.Pool, expected: ExpectedActor[]): Promise<string[]> {
  const diffs: string[] = []
  for (const a of expected) {
    const uri = (r: TruthRecord) => `at://${a.did}/${r.collection}/${r.rkey} ${r.cid}`
    const rec = await pool.query('select uri, cid from record where did = $1', [a.did])
    diffs.push(
      ...diffSets(
        `record ${a.did}`,
        sorted(a.records.map(uri)),
        sorted(rec.rows.map((r: { uri: string; cid: string }) => `${r.uri} ${r.cid}`)),
      ),
    )
    for (const [collection, table] of Object.entries(TABLE_OF)) {
      const res = await pool.query(`select uri, cid from "${table}" where creator = $1`, [a.did])
      diffs.push(
        ...diffSets(
          `${table} ${a.did}`,
          sorted(a.records.filter((r) => r.collection === collection).map(uri)),
          sorted(res.rows.map((r: { uri: string; cid: string }) => `${r.uri} ${r.cid}`)),
        ),
      )
    }
    const actor = await pool.query('select handle, "upstreamStatus" as status from actor where did = $1', [a.did])
    const row = actor.rows[0] as { handle: string | null; status: string | null } | undefined
    if (!row) diffs.push(`actor ${a.did}: missing`)
    else {
      if (row.handle !== a.handle) diffs.push(`actor ${a.did}: handle ${row.handle} != ${a.handle}`)
      if ((row.status ?? undefined) !== a.status) diffs.push(`actor ${a.did}: status ${row.status} != ${a.status}`)
    }
  }
  return diffs
}

/** Poll until the tables equal the truth; returns the last differences (empty on success). */
export async function waitForConvergence(pool: pg.Pool, expected: ExpectedActor[], timeoutMs: number): Promise<string[]> {
  const t0 = Date.now()
  let diffs: string[] = ['not compared yet']
  while (Date.now() - t0 < timeoutMs) {
    try {
      diffs = await compareTables(pool, expected)
    } catch (err) {
      diffs = [`query failed: ${(err as Error).message}`]
    }
    if (diffs.length === 0) return diffs
    await new Promise((r) => setTimeout(r, 500))
  }
  return diffs
}
