/**
 * A verified repo → `firehose_backfill` events: one `create` per record, then one `repo` event
 * (DESIGN.md: backfilled events carry seq -2). Lazy, like `VerifiedRepo.records`.
 */
import type { RecordWriteEvent, RepoEvent } from './events.js'
import type { VerifiedRepo } from './verify.js'

export const SEQ_BACKFILL = -2

export function* backfillEvents(repo: VerifiedRepo, time: string = new Date().toISOString()): Generator<RecordWriteEvent | RepoEvent> {
  const base = { seq: SEQ_BACKFILL, time, did: repo.did, commit: repo.commitCid, rev: repo.rev }
  for (const r of repo.records) {
    yield { type: 'create', ...base, collection: r.collection, rkey: r.rkey, cid: r.cid, record: r.record }
  }
  yield { type: 'repo', ...base }
}
