import { BytesWrapper, decode as decodeCbor, encode as encodeCbor } from '@atcute/cbor'
import { CidLinkWrapper, fromString } from '@atcute/cid'
import { P256Keypair, Secp256k1Keypair, type Keypair } from '@atproto/crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { encodeCar } from '../car-write.js'
import { cidBytesToString, cidForDagCbor } from '../cid.js'
import type { FrameBody } from '../frames.js'
import { carEntries } from '../test/oracle.js'
import { PdsRepo, type PdsCommit } from '../test/pds-commits.js'
import { tidFromMicros } from '../testing.js'
import { verifyCommitMessage, verifySyncMessage, type CommitVerdict, type RepoSyncPoint } from './verify-commit.js'

const post = PdsRepo.post
const point = (c: PdsCommit): RepoSyncPoint => ({ rev: c.rev, data: fromString(c.data).bytes })
const initialPoint = (pds: PdsRepo): RepoSyncPoint => ({ rev: pds.rev, data: pds.data })

const reasonOf = (v: CommitVerdict) => (v.ok ? 'ok' : v.reason)

/** A copy of a body with its blocks CAR rebuilt by `edit` (over [cid, bytes] entries). */
const withBlocks = (
  body: FrameBody,
  edit: (blocks: Array<{ cid: Uint8Array; bytes: Uint8Array }>) => Array<{ cid: Uint8Array; bytes: Uint8Array }>,
  roots?: Uint8Array[],
): FrameBody => {
  const car = carEntries((body.blocks as BytesWrapper).buf)
  return { ...body, blocks: new BytesWrapper(encodeCar(roots ?? car.roots, edit(car.blocks))) }
}
const opCid = (body: FrameBody, i: number): Uint8Array => (body.ops as Array<{ cid: CidLinkWrapper }>)[i]!.cid.bytes

describe.each([
  ['secp256k1', () => Secp256k1Keypair.create({ exportable: true })],
  ['p256', () => P256Keypair.create({ exportable: true })],
] as const)('verifyCommitMessage on @atproto/repo commits (%s)', (_curve, makeKey) => {
  let key: Keypair
  let pds: PdsRepo
  let base: RepoSyncPoint
  let c1: PdsCommit // create + update + delete
  let c2: PdsCommit // one create
  let c3: PdsCommit // one delete
  const did = 'did:plc:verifycommittest'

  beforeAll(async () => {
    key = await makeKey()
    pds = await PdsRepo.create(did, key, 120)
    base = initialPoint(pds)
    const paths = pds.paths()
    const [upd, del] = [paths.find((p) => p.startsWith('app.bsky.feed.post/'))!, paths.find((p) => p.startsWith('app.bsky.feed.like/'))!]
    c1 = await pds.commit([
      { action: 'create', collection: 'app.bsky.feed.post', rkey: tidFromMicros(Date.now() * 1000, 1), record: post('hello') },
      { action: 'update', collection: upd.split('/')[0]!, rkey: upd.split('/')[1]!, record: post('edited') },
      { action: 'delete', collection: del.split('/')[0]!, rkey: del.split('/')[1]! },
    ])
    c2 = await pds.commit([
      { action: 'create', collection: 'app.bsky.feed.post', rkey: tidFromMicros(Date.now() * 1000 + 5, 2), record: post('second') },
    ])
    c3 = await pds.commit([{ action: 'delete', collection: upd.split('/')[0]!, rkey: upd.split('/')[1]! }])
  })

  it('accepts the chain commit after commit, returning each new rev and data CID', async () => {
    let last = base
    for (const c of [c1, c2, c3]) {
      const v = verifyCommitMessage(c.body, { key: await key.did(), last })
      expect(reasonOf(v)).toBe('ok')
      if (!v.ok) return
      expect(v.rev).toBe(c.rev)
      expect(cidBytesToString(v.data)).toBe(c.data)
      expect(cidBytesToString(v.prevData!)).toBe(c.prevData)
      last = { rev: v.rev, data: v.data }
    }
    // with no known state (after a restart without state), the commit still proves itself
    expect(reasonOf(verifyCommitMessage(c2.body, { key: await key.did() }))).toBe('ok')
  })

  it('rev-not-newer: the same commit again (a second relay), or an older one', async () => {
    expect(reasonOf(verifyCommitMessage(c2.body, { key: await key.did(), last: point(c2) }))).toBe('rev-not-newer')
    expect(reasonOf(verifyCommitMessage(c2.body, { key: await key.did(), last: point(c3) }))).toBe('rev-not-newer')
  })

  it('prev-data-mismatch: a commit after a gap (c2 missed)', async () => {
    expect(reasonOf(verifyCommitMessage(c3.body, { key: await key.did(), last: point(c1) }))).toBe('prev-data-mismatch')
  })

  it('bad-signature: another key, or a commit re-signed by another key', async () => {
    const other = await Secp256k1Keypair.create()
    expect(reasonOf(verifyCommitMessage(c2.body, { key: other.did(), last: point(c1) }))).toBe('bad-signature')
    // a forged commit block (same content, another signature) pointed to by the frame and the CAR root
    const commitCid = (c2.body.commit as CidLinkWrapper).bytes
    const original = carEntries((c2.body.blocks as BytesWrapper).buf).blocks.find(
      (b) => cidBytesToString(b.cid) === cidBytesToString(commitCid),
    )!
    const commit = decodeCbor(original.bytes) as Record<string, unknown>
    commit.sig = new BytesWrapper(new Uint8Array(64).fill(7))
    const forgedBytes = encodeCbor(commit)
    const forged = cidForDagCbor(forgedBytes)
    const body = withBlocks(
      c2.body,
      (blocks) =>
        blocks.map((b) =>
          b === original || cidBytesToString(b.cid) === cidBytesToString(commitCid) ? { cid: forged, bytes: forgedBytes } : b,
        ),
      [forged],
    )
    body.commit = new CidLinkWrapper(forged)
    expect(reasonOf(verifyCommitMessage(body, { key: await key.did(), last: point(c1) }))).toBe('bad-signature')
  })

  it('proof-failed: an op left out, an op claiming another record, a wrong prevData', async () => {
    const k = await key.did()
    const ops = c1.body.ops as unknown[]
    expect(reasonOf(verifyCommitMessage({ ...c1.body, ops: ops.slice(1) }, { key: k, last: base }))).toBe('proof-failed')
    // the create's record swapped for another block (present and matching its own CID)
    const other = encodeCbor(post('not what was signed'))
    const otherCid = cidForDagCbor(other)
    const swapped = withBlocks(c1.body, (blocks) => [...blocks, { cid: otherCid, bytes: other }])
    swapped.ops = ops.map((op, i) => (i === 0 ? { ...(op as object), cid: new CidLinkWrapper(otherCid) } : op))
    expect(reasonOf(verifyCommitMessage(swapped, { key: k, last: base }))).toBe('proof-failed')
    // prevData of another tree: the proof fails before the chain is compared
    expect(reasonOf(verifyCommitMessage({ ...c2.body, prevData: new CidLinkWrapper(base.data) }, { key: k, last: base }))).toBe(
      'proof-failed',
    )
  })

  it('cid-mismatch and missing-blocks: a record block altered, or left out; an MST node left out', async () => {
    const k = await key.did()
    const recordCid = opCid(c2.body, 0)
    const altered = withBlocks(c2.body, (blocks) =>
      blocks.map((b) => (cidBytesToString(b.cid) === cidBytesToString(recordCid) ? { cid: b.cid, bytes: encodeCbor(post('altered')) } : b)),
    )
    expect(reasonOf(verifyCommitMessage(altered, { key: k, last: point(c1) }))).toBe('cid-mismatch')
    const noRecord = withBlocks(c2.body, (blocks) => blocks.filter((b) => cidBytesToString(b.cid) !== cidBytesToString(recordCid)))
    expect(reasonOf(verifyCommitMessage(noRecord, { key: k, last: point(c1) }))).toBe('missing-blocks')
    // the new MST root
    const dataCid = fromString(c2.data).bytes
    const noRoot = withBlocks(c2.body, (blocks) => blocks.filter((b) => cidBytesToString(b.cid) !== cidBytesToString(dataCid)))
    expect(reasonOf(verifyCommitMessage(noRoot, { key: k, last: point(c1) }))).toBe('missing-blocks')
    const commitCid = (c2.body.commit as CidLinkWrapper).bytes
    const noCommit = withBlocks(c2.body, (blocks) => blocks.filter((b) => cidBytesToString(b.cid) !== cidBytesToString(commitCid)))
    expect(reasonOf(verifyCommitMessage(noCommit, { key: k, last: point(c1) }))).toBe('missing-blocks')
  })

  it('unprovable, too-big, malformed, bad-key', async () => {
    const k = await key.did()
    const { prevData: _p, ...noPrevData } = c2.body
    expect(reasonOf(verifyCommitMessage(noPrevData, { key: k, last: point(c1) }))).toBe('unprovable')
    const delOp = (c3.body.ops as Array<Record<string, unknown>>)[0]!
    const { prev: _prev, ...delWithoutPrev } = delOp
    expect(reasonOf(verifyCommitMessage({ ...c3.body, ops: [delWithoutPrev] }, { key: k, last: point(c2) }))).toBe('unprovable')
    expect(reasonOf(verifyCommitMessage({ ...c2.body, tooBig: true }, { key: k }))).toBe('too-big')
    expect(reasonOf(verifyCommitMessage({ ...c2.body, rev: 'not-a-tid' }, { key: k }))).toBe('malformed')
    expect(reasonOf(verifyCommitMessage({ ...c2.body, rev: c3.rev }, { key: k }))).toBe('malformed')
    expect(reasonOf(verifyCommitMessage({ ...c2.body, repo: 'did:plc:someoneelse' }, { key: k }))).toBe('malformed')
    expect(reasonOf(verifyCommitMessage({ ...c2.body, blocks: new BytesWrapper(new Uint8Array([1, 2, 3])) }, { key: k }))).toBe('malformed')
    expect(
      reasonOf(verifyCommitMessage({ ...c2.body, ops: Array.from({ length: 201 }, () => (c2.body.ops as unknown[])[0]) }, { key: k })),
    ).toBe('malformed')
    expect(reasonOf(verifyCommitMessage(c2.body, { key: 'did:key:zNotAKey' }))).toBe('bad-key')
  })

  it('hostile bytes: any flipped byte of the blocks, any shuffle of the ops, is refused without throwing', async () => {
    const k = await key.did()
    const car = (c1.body.blocks as BytesWrapper).buf
    let seed = 7
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed % n
    }
    const reasons = new Set<string>()
    for (let i = 0; i < 400; i++) {
      const bytes = new Uint8Array(car)
      const at = rand(bytes.length)
      bytes[at] = bytes[at]! ^ (1 + rand(255))
      const v = verifyCommitMessage({ ...c1.body, blocks: new BytesWrapper(bytes) }, { key: k, last: base })
      expect(v.ok, `byte ${at}`).toBe(false)
      reasons.add(reasonOf(v))
    }
    expect(reasons.has('cid-mismatch')).toBe(true)
    const ops = c1.body.ops as unknown[]
    for (const order of [
      [1, 0, 2],
      [2, 1, 0],
      [0, 0, 1, 2],
      [0, 1],
    ]) {
      const v = verifyCommitMessage({ ...c1.body, ops: order.map((i) => ops[i]) }, { key: k, last: base })
      // the same set of distinct ops in any order proves the commit; a repeated or missing op does not
      expect(reasonOf(v)).toBe(new Set(order).size === order.length && order.length === 3 ? 'ok' : 'proof-failed')
    }
  })

  it('level signature: checks signature and rev only', async () => {
    const k = await key.did()
    expect(reasonOf(verifyCommitMessage(c3.body, { key: k, last: point(c1), level: 'signature' }))).toBe('ok')
    expect(reasonOf(verifyCommitMessage(c2.body, { key: k, last: point(c2), level: 'signature' }))).toBe('rev-not-newer')
    expect(reasonOf(verifyCommitMessage(c2.body, { key: (await Secp256k1Keypair.create()).did(), level: 'signature' }))).toBe(
      'bad-signature',
    )
  })

  it('#sync: the signed commit gives rev and data; bad key and older rev refused', async () => {
    const { body } = await pds.syncFrame()
    const v = verifySyncMessage(body, { key: await key.did(), last: point(c2) })
    expect(v.ok).toBe(true)
    if (!v.ok) return
    expect(v.rev).toBe(pds.rev)
    expect(cidBytesToString(v.data)).toBe(cidBytesToString(pds.data))
    const other = (await Secp256k1Keypair.create()).did()
    expect(reasonOf(verifySyncMessage(body, { key: other }) as CommitVerdict)).toBe('bad-signature')
    expect(reasonOf(verifySyncMessage(body, { key: await key.did(), last: point(c3) }) as CommitVerdict)).toBe('rev-not-newer')
    expect(reasonOf(verifySyncMessage({ ...body, did: 'did:plc:other' }, { key: await key.did() }) as CommitVerdict)).toBe('malformed')
  })
})
