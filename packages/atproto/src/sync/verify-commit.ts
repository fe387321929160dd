/**
 * Sync 1.1 verification of `#commit` and `#sync` messages (com.atproto.sync.subscribeRepos), as
 * the sync spec and indigo's Tap `VerifyCommitMessage` do it. For a `#commit`, in this order:
 * 1. shape (fields, rev syntax, the lexicon's limits: 200 ops, 2 MB of blocks) → `malformed`;
 *    `tooBig` → `too-big`
 * 2. `rev` greater than the last accepted rev of the repo → else `rev-not-newer` (first: the
 *    copy of a commit from a second relay costs a string compare)
 * 3. the blocks CAR (its root must be the commit; every block checked against its CID →
 *    `cid-mismatch`), the commit block
 *    (`missing-blocks`, `malformed`; its `did` and `rev` must be the frame's)
 * 4. the commit signature against the repo's signing key → `bad-key`, `bad-signature`
 * 5. (level `full`) the MST proof: the ops, undone on the new tree read from the frame's blocks,
 *    give the frame's `prevData` → `proof-failed`, `missing-blocks`; a frame without `prevData`
 *    or an update/delete without `prev` cannot be proven → `unprovable`
 * 6. (level `full`) `prevData` equals the last verified data CID → else `prev-data-mismatch` (a
 *    gap in the chain: the repo is out of sync)
 * Checks 2 and 6 are skipped when the repo's last state is not known (`last` absent).
 */
import { BytesWrapper } from '@atcute/cbor'
import { CidLinkWrapper } from '@atcute/cid'
import type { BlockMap } from '../block-map.js'
import { readCar } from '../car.js'
import { cidBytesToString, sameBytes } from '../cid.js'
import { decodeCommit, unsignedCommitBytes, type Commit } from '../commit.js'
import { signingKeyFromDidKey, verifySignature, type SigningKey } from '../crypto/verify-sig.js'
import { VerificationError } from '../errors.js'
import type { FrameBody } from '../frames.js'
import { InvertError, invertOps, type InvertibleOp } from './invert.js'

export type CommitRefusalReason =
  | 'malformed'
  | 'too-big'
  | 'rev-not-newer'
  | 'cid-mismatch'
  | 'missing-blocks'
  | 'bad-key'
  | 'bad-signature'
  | 'unprovable'
  | 'proof-failed'
  | 'prev-data-mismatch'

/** The last accepted state of a repo (see `SyncStateStore`). */
export interface RepoSyncPoint {
  rev: string
  /** MST root CID (binary) */
  data: Uint8Array
}

export type VerifyLevel = 'full' | 'signature'

export interface VerifyCommitOptions {
  /** the repo's current atproto signing key: a did:key, or one parsed by `signingKeyFromDidKey` */
  key: SigningKey | string
  /** the repo's last accepted state; null or absent when unknown (checks 2 and 6 skipped) */
  last?: RepoSyncPoint | null
  /** `full` (default): signature, rev, MST proof and prevData chain; `signature`: signature and rev */
  level?: VerifyLevel
}

export interface VerifiedCommit {
  ok: true
  did: string
  rev: string
  /** commit block CID (binary) */
  commitCid: Uint8Array
  /** the new MST root CID (binary): the repo's data CID after this commit */
  data: Uint8Array
  /** the frame's prevData (binary; checked by the proof at level `full`), null when absent */
  prevData: Uint8Array | null
  /** the frame's blocks (already checked against their CIDs) */
  blocks: BlockMap
}

export interface RefusedMessage {
  ok: false
  reason: CommitRefusalReason
  message: string
}

export type CommitVerdict = VerifiedCommit | RefusedMessage

/** subscribeRepos lexicon limits of a `#commit` */
const MAX_OPS = 200
const MAX_BLOCKS_BYTES = 2_000_000
const TID = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/
const PATH = /^[a-zA-Z0-9.:_~-]+\/[a-zA-Z0-9.:_~-]+$/

const refuse = (reason: CommitRefusalReason, message: string): RefusedMessage => ({ ok: false, reason, message })

class Refusal extends Error {
  constructor(readonly verdict: RefusedMessage) {
    super(verdict.message)
  }
}
const fail = (reason: CommitRefusalReason, message: string): never => {
  throw new Refusal(refuse(reason, message))
}

const optionalLink = (v: unknown, what: string): Uint8Array | null => {
  if (v === undefined || v === null) return null
  if (!(v instanceof CidLinkWrapper)) return fail('malformed', `${what} is not a CID link`)
  return v.bytes
}

/** The blocks CAR, every block checked against its CID. */
const readBlocks = (car: Uint8Array): { roots: Uint8Array[]; blocks: BlockMap } => {
  try {
    return readCar(car)
  } catch (err) {
    if (err instanceof VerificationError) return fail('cid-mismatch', `a block does not match its CID ${err.cid ?? ''}`)
    return fail('malformed', `blocks are not a CAR: ${(err as Error).message}`)
  }
}

/** The decoded, signature-checked commit `commitCid` of `blocks`. */
const readSignedCommit = (blocks: BlockMap, commitCid: Uint8Array, did: string, rev: string, key: SigningKey | string): Commit => {
  const bytes = blocks.get(commitCid)
  if (bytes === undefined) return fail('missing-blocks', `commit block ${cidBytesToString(commitCid)} is not in the blocks`)
  let commit: Commit
  try {
    commit = decodeCommit(commitCid, bytes)
  } catch (err) {
    return fail('malformed', (err as Error).message)
  }
  if (commit.version !== 3) fail('malformed', `commit version ${commit.version} (sync 1.1 needs 3)`)
  if (commit.did !== did) fail('malformed', `commit is for ${commit.did}, the message for ${did}`)
  if (commit.rev !== rev) fail('malformed', `commit rev ${commit.rev} differs from the message's ${rev}`)
  let signingKey: SigningKey
  try {
    signingKey = typeof key === 'string' ? signingKeyFromDidKey(key) : key
  } catch (err) {
    return fail('bad-key', (err as Error).message)
  }
  if (!verifySignature(signingKey, unsignedCommitBytes(commit), commit.sig)) {
    fail('bad-signature', `commit signature does not verify against ${signingKey.didKey}`)
  }
  return commit
}

const parseOps = (ops: unknown[], blocks: BlockMap): InvertibleOp[] =>
  ops.map((op) => {
    const { action, path, cid, prev } = (op ?? {}) as Record<string, unknown>
    if (typeof path !== 'string' || !PATH.test(path)) return fail('malformed', `op path ${JSON.stringify(path)} is not <collection>/<rkey>`)
    if (action !== 'create' && action !== 'update' && action !== 'delete')
      return fail('malformed', `op ${path}: unknown action ${String(action)}`)
    const after = optionalLink(cid, `op ${path} cid`)
    const before = optionalLink(prev, `op ${path} prev`)
    if (action === 'delete') {
      if (after !== null) fail('malformed', `delete of ${path} with a cid`)
      if (before === null) fail('unprovable', `delete of ${path} without prev`)
    } else {
      if (after === null) fail('malformed', `${action} of ${path} without a cid`)
      if (!blocks.has(after!)) fail('missing-blocks', `record block ${cidBytesToString(after!)} of ${path} is not in the blocks`)
      if (action === 'update' && before === null) fail('unprovable', `update of ${path} without prev`)
    }
    return { action, path, cid: after, prev: before }
  })

/** Verifies a decoded `#commit` body (see the module doc). Never throws for bad input. */
export const verifyCommitMessage = (body: FrameBody, options: VerifyCommitOptions): CommitVerdict => {
  try {
    const { repo, rev, commit, blocks, ops, tooBig } = body
    if (typeof repo !== 'string' || !repo.startsWith('did:')) return refuse('malformed', '`repo` is not a DID')
    if (typeof rev !== 'string' || !TID.test(rev)) return refuse('malformed', '`rev` is not a TID')
    if (!(commit instanceof CidLinkWrapper)) return refuse('malformed', '`commit` is not a CID link')
    if (!(blocks instanceof BytesWrapper)) return refuse('malformed', '`blocks` is not bytes')
    if (!Array.isArray(ops)) return refuse('malformed', '`ops` is not an array')
    if (ops.length > MAX_OPS) return refuse('malformed', `${ops.length} ops (at most ${MAX_OPS})`)
    if (blocks.buf.length > MAX_BLOCKS_BYTES)
      return refuse('malformed', `blocks of ${blocks.buf.length} bytes (at most ${MAX_BLOCKS_BYTES})`)
    if (tooBig === true) return refuse('too-big', 'commit marked tooBig (its blocks were left out)')
    const prevData = optionalLink(body.prevData, '`prevData`')
    const last = options.last ?? null
    if (last !== null && rev <= last.rev) return refuse('rev-not-newer', `rev ${rev} is not after the last accepted ${last.rev}`)

    const car = readBlocks(blocks.buf)
    const map = car.blocks
    if (car.roots[0] === undefined || !sameBytes(car.roots[0], commit.bytes))
      return refuse('malformed', 'the blocks CAR root is not the commit')
    const signed = readSignedCommit(map, commit.bytes, repo, rev, options.key)
    const verified: VerifiedCommit = { ok: true, did: repo, rev, commitCid: commit.bytes, data: signed.data, prevData, blocks: map }
    if ((options.level ?? 'full') === 'signature') return verified

    if (prevData === null) return refuse('unprovable', 'no `prevData` (not a sync 1.1 commit)')
    const invertible = parseOps(ops as unknown[], map)
    let before: Uint8Array
    try {
      before = invertOps(map, signed.data, invertible)
    } catch (err) {
      if (!(err instanceof InvertError)) throw err
      return refuse(err.reason === 'missing-block' ? 'missing-blocks' : 'proof-failed', err.message)
    }
    if (!sameBytes(before, prevData)) {
      return refuse('proof-failed', `the ops undone give ${cidBytesToString(before)}, not prevData ${cidBytesToString(prevData)}`)
    }
    if (last !== null && !sameBytes(prevData, last.data)) {
      return refuse(
        'prev-data-mismatch',
        `prevData ${cidBytesToString(prevData)} is not the last verified data ${cidBytesToString(last.data)}`,
      )
    }
    return verified
  } catch (err) {
    if (err instanceof Refusal) return err.verdict
    throw err
  }
}

export interface VerifiedSync {
  ok: true
  did: string
  rev: string
  commitCid: Uint8Array
  /** the repo's data CID (binary) as of this `#sync` */
  data: Uint8Array
}

/**
 * Verifies a decoded `#sync` body: `blocks` is a CAR whose first root is the signed commit.
 * Refusals: `malformed`, `cid-mismatch`, `missing-blocks`, `bad-key`, `bad-signature`, and
 * `rev-not-newer` when `last` is given and the rev is not after it.
 */
export const verifySyncMessage = (
  body: FrameBody,
  options: { key: SigningKey | string; last?: RepoSyncPoint | null },
): VerifiedSync | RefusedMessage => {
  try {
    const { did, rev, blocks } = body
    if (typeof did !== 'string' || !did.startsWith('did:')) return refuse('malformed', '`did` is not a DID')
    if (typeof rev !== 'string' || !TID.test(rev)) return refuse('malformed', '`rev` is not a TID')
    if (!(blocks instanceof BytesWrapper)) return refuse('malformed', '`blocks` is not bytes')
    const last = options.last ?? null
    if (last !== null && rev <= last.rev) return refuse('rev-not-newer', `rev ${rev} is not after the last accepted ${last.rev}`)
    const car = readBlocks(blocks.buf)
    const root = car.roots[0]
    if (root === undefined) return refuse('malformed', 'blocks CAR has no root')
    const commit = readSignedCommit(car.blocks, root, did, rev, options.key)
    return { ok: true, did, rev, commitCid: root, data: commit.data }
  } catch (err) {
    if (err instanceof Refusal) return err.verdict
    throw err
  }
}
