/**
 * `com.atproto.sync.subscribeRepos` messages → stream events (one per repo operation).
 *
 * For `#commit`, each create/update's record is read from the commit's `blocks` CAR and its bytes
 * are checked against the op's CID; any missing or mismatching block fails the whole message
 * with `CommitBlockError` (the ingester skips the frame). A body whose fields have the wrong
 * shape throws `FrameDecodeError`.
 */
import { BytesWrapper } from '@atcute/cbor'
import { CidLinkWrapper } from '@atcute/cid'
import { readCar, type BlockMap } from './car.js'
import { cidMatchesBytes } from './cid.js'
import { CommitBlockError, FrameDecodeError } from './errors.js'
import type { AccountEvent, IdentityEvent, StreamEvent } from './events.js'
import type { FrameBody } from './frames.js'
import { decodeLexRecord, type LexRecord } from './lex.js'
import { isValidDid, isValidNsid, isValidRecordKey, isValidTid } from './syntax.js'

/**
 * Limits of a `#commit` (lexicon com.atproto.sync.subscribeRepos#commit): `ops` maxLength 200,
 * `blocks` maxLength 2,000,000 bytes. A commit past either is refused whole (CommitBlockError).
 */
export const MAX_COMMIT_OPS = 200
export const MAX_COMMIT_BLOCKS_BYTES = 2_000_000

/** Why an op (or a whole message) was dropped for its syntax. */
export type InvalidReason = 'invalid-did' | 'invalid-rev' | 'invalid-collection' | 'invalid-rkey'

/** An op or message dropped for its syntax; `value` is the offending text (unbounded: cut it before logging). */
export interface InvalidItem {
  reason: InvalidReason
  value: string
}

export type FirehoseResult =
  /**
   * `#commit`, `#identity`, `#account`: the events to write (a commit with no ops gives none).
   * `invalid`: ops dropped for their syntax (or the whole message, for a bad DID or rev); the
   * rest of the commit is in `events`.
   */
  | { kind: 'events'; seq: number; events: StreamEvent[]; invalid?: InvalidItem[] }
  /**
   * `#sync` (the repo's state was reset), or a legacy `#commit` with `tooBig: true` (its ops'
   * blocks were left out): enqueue the DID for backfill
   */
  | { kind: 'sync'; seq: number; time: string; did: string; rev: string }
  | { kind: 'info'; name: string; message?: string }
  | { kind: 'unknown'; type: string; seq?: number }

const str = (type: string, body: FrameBody, field: string): string => {
  const v = body[field]
  if (typeof v !== 'string') throw new FrameDecodeError(`${type} message: \`${field}\` is not a string`)
  return v
}
const int = (type: string, body: FrameBody, field: string): number => {
  const v = body[field]
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new FrameDecodeError(`${type} message: \`${field}\` is not an integer`)
  return v
}
const optStr = (type: string, body: FrameBody, field: string): string | undefined =>
  body[field] === undefined || body[field] === null ? undefined : str(type, body, field)

/** Maps one decoded subscribeRepos message (see `decodeFrame`) to stream events or an action. */
export const firehoseMessageToEvents = (type: string, body: FrameBody): FirehoseResult => {
  switch (type) {
    case '#commit':
      return commitToEvents(body)
    case '#identity': {
      const seq = int(type, body, 'seq')
      const did = str(type, body, 'did')
      if (!isValidDid(did)) return dropped(seq, 'invalid-did', did)
      const event: IdentityEvent = {
        type: 'identity',
        seq,
        time: str(type, body, 'time'),
        did,
      }
      const handle = optStr(type, body, 'handle')
      if (handle !== undefined) event.handle = handle
      return { kind: 'events', seq: event.seq, events: [event] }
    }
    case '#account': {
      const active = body.active
      if (typeof active !== 'boolean') throw new FrameDecodeError('#account message: `active` is not a boolean')
      const seq = int(type, body, 'seq')
      const did = str(type, body, 'did')
      if (!isValidDid(did)) return dropped(seq, 'invalid-did', did)
      const event: AccountEvent = {
        type: 'account',
        seq,
        time: str(type, body, 'time'),
        did,
        active,
      }
      const status = optStr(type, body, 'status')
      if (status !== undefined) event.status = status
      return { kind: 'events', seq: event.seq, events: [event] }
    }
    case '#sync': {
      const seq = int(type, body, 'seq')
      const did = str(type, body, 'did')
      const rev = str(type, body, 'rev')
      if (!isValidDid(did)) return dropped(seq, 'invalid-did', did)
      if (!isValidTid(rev)) return dropped(seq, 'invalid-rev', rev)
      return { kind: 'sync', seq, time: str(type, body, 'time'), did, rev }
    }
    case '#info': {
      const message = optStr(type, body, 'message')
      const name = str(type, body, 'name')
      return message === undefined ? { kind: 'info', name } : { kind: 'info', name, message }
    }
    default: {
      const seq = body.seq
      return typeof seq === 'number' ? { kind: 'unknown', type, seq } : { kind: 'unknown', type }
    }
  }
}

/** A message dropped whole for its syntax: nothing to write, its seq still handled. */
const dropped = (seq: number, reason: InvalidReason, value: string): FirehoseResult => ({
  kind: 'events',
  seq,
  events: [],
  invalid: [{ reason, value }],
})

const commitToEvents = (body: FrameBody): FirehoseResult => {
  const t = '#commit'
  const seq = int(t, body, 'seq')
  const did = str(t, body, 'repo')
  const time = str(t, body, 'time')
  const rev = str(t, body, 'rev')
  const commitLink = body.commit
  if (!(commitLink instanceof CidLinkWrapper)) throw new FrameDecodeError('#commit message: `commit` is not a CID link')
  const ops = body.ops
  if (!Array.isArray(ops)) throw new FrameDecodeError('#commit message: `ops` is not an array')
  // a bad DID or rev concerns every op: the whole commit is dropped (and no backfill of a non-DID)
  if (!isValidDid(did)) return dropped(seq, 'invalid-did', did)
  if (!isValidTid(rev)) return dropped(seq, 'invalid-rev', rev)
  if (body.tooBig === true) return { kind: 'sync', seq, time, did, rev }
  const commit = commitLink.$link
  const fail = (reason: CommitBlockError['reason'], path: string | undefined, message: string, cause?: unknown) =>
    new CommitBlockError(reason, seq, did, path, message, { cause })
  if (ops.length > MAX_COMMIT_OPS) throw fail('too-many-ops', undefined, `${ops.length} ops (at most ${MAX_COMMIT_OPS})`)
  if (body.blocks instanceof BytesWrapper && body.blocks.buf.length > MAX_COMMIT_BLOCKS_BYTES) {
    throw fail('blocks-too-large', undefined, `\`blocks\` of ${body.blocks.buf.length} bytes (at most ${MAX_COMMIT_BLOCKS_BYTES})`)
  }
  let invalid: InvalidItem[] | undefined

  let blocks: BlockMap | undefined
  const getBlocks = (path: string): BlockMap => {
    if (blocks !== undefined) return blocks
    const car = body.blocks
    if (!(car instanceof BytesWrapper)) throw fail('bad-message', path, '`blocks` is not bytes')
    try {
      // only the blocks used are checked against their CIDs (below), not the whole diff
      blocks = readCar(car.buf, { verifyBlocks: false }).blocks
    } catch (err) {
      throw fail('bad-message', path, `\`blocks\` is not a CAR: ${(err as Error).message}`, err)
    }
    return blocks
  }

  const events: StreamEvent[] = []
  for (const op of ops as unknown[]) {
    const { action, path, cid } = (op ?? {}) as Record<string, unknown>
    if (typeof path !== 'string') throw fail('bad-message', undefined, 'op without a `path`')
    const slash = path.indexOf('/')
    if (slash <= 0 || slash === path.length - 1) throw fail('bad-message', path, 'op path is not <collection>/<rkey>')
    const collection = path.slice(0, slash)
    const rkey = path.slice(slash + 1)
    // dropped alone: the rest of the commit still passes
    if (!isValidNsid(collection)) {
      ;(invalid ??= []).push({ reason: 'invalid-collection', value: path })
      continue
    }
    if (!isValidRecordKey(rkey)) {
      ;(invalid ??= []).push({ reason: 'invalid-rkey', value: path })
      continue
    }
    if (action === 'delete') {
      events.push({ type: 'delete', seq, time, did, commit, rev, collection, rkey })
      continue
    }
    if (action !== 'create' && action !== 'update') throw fail('bad-message', path, `unknown op action ${String(action)}`)
    if (!(cid instanceof CidLinkWrapper)) throw fail('bad-message', path, `${action} op without a CID`)
    const bytes = getBlocks(path).get(cid.bytes)
    if (bytes === undefined) throw fail('missing-block', path, `record block ${cid.$link} not in \`blocks\``)
    if (!cidMatchesBytes(cid.bytes, bytes)) throw fail('cid-mismatch', path, `record block does not match ${cid.$link}`)
    let record: LexRecord
    try {
      record = decodeLexRecord(bytes)
    } catch (err) {
      throw fail('bad-record', path, (err as Error).message, err)
    }
    events.push({ type: action, seq, time, did, commit, rev, collection, rkey, cid: cid.$link, record })
  }
  return invalid === undefined ? { kind: 'events', seq, events } : { kind: 'events', seq, events, invalid }
}
