// The reference implementation's way of verifying a sync-1.1 commit, all from @atproto/*: the
// frame decoded with @ipld/dag-cbor (as @atproto/xrpc-server's subscription does), the blocks
// read by @atproto/repo's readCarWithRoot (block CIDs checked), the commit signature by
// @atproto/repo's verifyCommitSig (@atproto/crypto's verifySignature), then the MST proof: the
// ops undone on @atproto/repo's MST loaded over the frame's blocks, the root compared with
// prevData, prevData with the last data CID, and the rev with the last rev.
import { def, MemoryBlockstore, MST, readCarWithRoot, verifyCommitSig } from '@atproto/repo'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'

const { decodeFirst } = await import(new URL('../../../cborg/cborg.js', import.meta.resolve('@ipld/dag-cbor')).href)

/** Resolves to 'ok' or the first failed check. */
export async function baselineVerify(frame, meta) {
  const [header, rest] = decodeFirst(frame, dagCbor.decodeOptions)
  if (header.t !== '#commit') return 'malformed'
  const body = dagCbor.decode(rest)
  if (body.rev <= meta.lastRev) return 'rev-not-newer'
  const { root, blocks } = await readCarWithRoot(body.blocks)
  if (!root.equals(body.commit)) return 'malformed'
  const storage = new MemoryBlockstore(blocks)
  const commit = await storage.readObj(root, def.versionedCommit)
  if (commit.did !== body.repo || commit.rev !== body.rev) return 'malformed'
  if (!(await verifyCommitSig(commit, meta.didKey))) return 'bad-signature'
  let tree = MST.load(storage, commit.data)
  for (let i = body.ops.length - 1; i >= 0; i--) {
    const op = body.ops[i]
    const current = await tree.get(op.path)
    if (op.action === 'create') {
      if (!current?.equals(op.cid)) return 'proof-failed'
      tree = await tree.delete(op.path)
    } else if (op.action === 'update') {
      if (!current?.equals(op.cid) || !op.prev) return 'proof-failed'
      tree = await tree.update(op.path, op.prev)
    } else {
      if (current || !op.prev) return 'proof-failed'
      tree = await tree.add(op.path, op.prev)
    }
  }
  if (!body.prevData || !(await tree.getPointer()).equals(body.prevData)) return 'proof-failed'
  if (!body.prevData.equals(CID.decode(Buffer.from(meta.lastData, 'base64')))) return 'prev-data-mismatch'
  return 'ok'
}
