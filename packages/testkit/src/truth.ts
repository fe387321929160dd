import { lexToJson } from '@atproto/lexicon'
import { getAndParseRecord, verifyRepoCar } from '@atproto/repo'

export interface TruthRecord {
  collection: string
  rkey: string
  cid: string
  record: unknown
}

/**
 * Ground truth of a repo: `com.atproto.sync.getRepo` from the PDS, verified and read by
 * `@atproto/repo` (the reference implementation), records in atproto JSON form.
 */
export async function readRepo(pdsUrl: string, did: string): Promise<{ rev: string; records: TruthRecord[] }> {
  const res = await fetch(`${pdsUrl}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`)
  if (!res.ok) throw new Error(`getRepo ${did}: HTTP ${res.status} ${await res.text()}`)
  const car = new Uint8Array(await res.arrayBuffer())
  const repo = await verifyRepoCar(car, did)
  const records: TruthRecord[] = []
  for (const c of repo.creates) {
    const { record } = await getAndParseRecord(repo.commit.newBlocks, c.cid)
    records.push({ collection: c.collection, rkey: c.rkey, cid: c.cid.toString(), record: lexToJson(record as never) })
  }
  return { rev: repo.commit.rev, records }
}

/** Every repo the PDS lists (`com.atproto.sync.listRepos`, all pages). */
export async function listRepos(pdsUrl: string): Promise<{ did: string; rev: string; active: boolean; status?: string }[]> {
  const out: { did: string; rev: string; active: boolean; status?: string }[] = []
  let cursor: string | undefined
  for (;;) {
    const url = `${pdsUrl}/xrpc/com.atproto.sync.listRepos?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
    const res = await fetch(url)
    if (!res.ok) throw new Error(`listRepos: HTTP ${res.status}`)
    const body = (await res.json()) as { cursor?: string; repos: { did: string; rev: string; active: boolean; status?: string }[] }
    out.push(...body.repos)
    if (!body.cursor || body.repos.length === 0) return out
    cursor = body.cursor
  }
}
