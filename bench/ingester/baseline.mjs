// The baseline decoding path, as the earlier TypeScript workers decode subscribeRepos frames:
// @ipld/dag-cbor for header and body, @ipld/car to read the commit's blocks, multiformats to
// check the record block against its CID, @atproto/repo's cborToLexRecord for the record, then
// CIDs / bytes to atproto JSON. It returns what @firehose/ingester's decoder returns, so the
// same ingester pipeline (batching, XADD, cursors) runs behind both.
import * as dagCbor from '@ipld/dag-cbor'
import { CarBufferReader } from '@ipld/car/buffer-reader'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { cborToLexRecord } from '@atproto/repo'

// cborg's decodeFirst with dag-cbor's options, as @atproto/common's cborDecodeMulti does; cborg
// is not a direct dependency of the bench, so it is imported from beside @ipld/dag-cbor
const { decodeFirst } = await import(new URL('../../../cborg/cborg.js', import.meta.resolve('@ipld/dag-cbor')).href)

/** A frame's two DAG-CBOR values. */
function decodeTwo(bytes) {
  const [header, rest] = decodeFirst(bytes, dagCbor.decodeOptions)
  return [header, dagCbor.decode(rest)]
}

const toJson = (v) => {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map(toJson)
  const cid = CID.asCID(v)
  if (cid) return { $link: cid.toString() }
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64').replace(/=+$/, '') }
  const out = {}
  for (const k of Object.keys(v)) out[k] = toJson(v[k])
  return out
}

export function baselineDecode(bytes) {
  const [header, body] = decodeTwo(bytes)
  if (header.op === -1) return { kind: 'error', error: body.error, message: body.message }
  const type = header.t
  switch (type) {
    case '#commit': {
      const { seq, repo: did, time, rev } = body
      const commit = body.commit.toString()
      const car = CarBufferReader.fromBytes(body.blocks)
      const events = []
      for (const op of body.ops) {
        const [collection, rkey] = op.path.split('/')
        if (op.action === 'delete') {
          events.push({ type: 'delete', seq, time, did, commit, rev, collection, rkey })
          continue
        }
        const block = car.get(op.cid)
        if (!block) throw new Error(`missing block ${op.cid}`)
        const digest = sha256.digest(block.bytes)
        if (!CID.createV1(0x71, digest).equals(op.cid)) throw new Error('cid mismatch')
        const record = toJson(cborToLexRecord(block.bytes))
        events.push({ type: op.action, seq, time, did, commit, rev, collection, rkey, cid: op.cid.toString(), record })
      }
      return { kind: 'message', type, result: { kind: 'events', seq, events } }
    }
    case '#identity': {
      const e = { type: 'identity', seq: body.seq, time: body.time, did: body.did }
      if (body.handle) e.handle = body.handle
      return { kind: 'message', type, result: { kind: 'events', seq: body.seq, events: [e] } }
    }
    case '#account': {
      const e = { type: 'account', seq: body.seq, time: body.time, did: body.did, active: body.active }
      if (body.status) e.status = body.status
      return { kind: 'message', type, result: { kind: 'events', seq: body.seq, events: [e] } }
    }
    case '#sync':
      return { kind: 'message', type, result: { kind: 'sync', seq: body.seq, time: body.time, did: body.did, rev: body.rev } }
    case '#info':
      return { kind: 'message', type, result: { kind: 'info', name: body.name, message: body.message } }
    default:
      return { kind: 'message', type, result: { kind: 'unknown', type, seq: body.seq } }
  }
}
