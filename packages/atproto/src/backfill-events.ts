/**
 * A verified repo → `firehose_backfill` events: one `create` per record, then one `repo` event
 * (docs/design.md: backfilled events carry seq -2). Lazy, like `VerifiedRepo.records`.
 */
import type { RecordWriteEvent, RepoEvent } from './events.js'
import type { JsonSink } from './json-sink.js'
import { LexDecodeError } from './lex.js'
import { writeRecordJson } from './lex-json.js'
import { leafCid, leafPath, type RepoLeaves } from './mst.js'
import { badRecordError, type VerifiedRepo } from './verify.js'

export const SEQ_BACKFILL = -2

export function* backfillEvents(repo: VerifiedRepo, time: string = new Date().toISOString()): Generator<RecordWriteEvent | RepoEvent> {
  const base = { seq: SEQ_BACKFILL, time, did: repo.did, commit: repo.commitCid, rev: repo.rev }
  for (const r of repo.records) {
    yield { type: 'create', ...base, collection: r.collection, rkey: r.rkey, cid: r.cid, record: r.record }
  }
  yield { type: 'repo', ...base }
}

/**
 * The end of leaf `i`'s `create` event JSON, after the fields common to the repo (type, seq,
 * time, did, commit, rev): `"collection":…,"rkey":…,"cid":…,"record":…}` as UTF-8 into `sink`,
 * exactly what `encodeEvent` writes for those fields. Throws `VerificationError('bad-record')`
 * for a record that is not a valid lex record (`sink` is then left with a partial tail).
 */
export const writeCreateEventTail = (leaves: RepoLeaves, i: number, sink: JsonSink): void => {
  // repo paths are `<collection>/<rkey>` of [A-Za-z0-9._:~-] (checked by the walk): no escapes
  const keys = leaves.keys
  const start = i === 0 ? 0 : leaves.keyEnds[i - 1]!
  const end = leaves.keyEnds[i]!
  sink.reserve(end - start + 96)
  sink.ascii('"collection":"')
  let slash = start
  while (keys[slash] !== 0x2f) slash++
  sink.bytes(keys, start, slash)
  sink.ascii('","rkey":"')
  sink.bytes(keys, slash + 1, end)
  sink.ascii('","cid":"')
  const cidAt = leaves.cidStarts[i]!
  sink.cidString(leaves.cidBufs[i]!, cidAt, cidAt + 36)
  sink.ascii('","record":')
  const { blocks } = leaves
  const id = leaves.blockIds[i]!
  try {
    writeRecordJson(sink, blocks.dataBuf(id), blocks.dataStart(id), blocks.dataEnd(id))
  } catch (err) {
    if (!(err instanceof LexDecodeError)) throw err
    throw badRecordError(leafPath(leaves, i), leafCid(leaves, i), err)
  }
  sink.byte(0x7d) // '}'
}
