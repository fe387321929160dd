/**
 * The `@atproto/repo` path behind the backfiller's RepoVerifier shape: the oracle that the fast
 * verifier must agree with (same accept/reject, same records).
 */
import { cborToLexRecord, readCarWithRoot, verifyRepo } from '@atproto/repo'
import { toLexInPlace, type LexRecord, type RepoRecord } from '@firehose/atproto'
import type { RepoVerifier } from '../verifier.js'

export const atprotoRepoVerifier: RepoVerifier = async (bytes, { did, signingKey }) => {
  const car = await readCarWithRoot(bytes)
  const verified = await verifyRepo(car.blocks, car.root, did, signingKey)
  const creates = verified.creates
  return {
    rev: verified.commit.rev,
    commitCid: car.root.toString(),
    recordCount: creates.length,
    records: {
      *[Symbol.iterator](): Generator<RepoRecord> {
        for (const c of creates) {
          const block = car.blocks.get(c.cid)
          if (!block) throw new Error(`missing record block ${c.cid.toString()}`)
          yield { collection: c.collection, rkey: c.rkey, cid: c.cid.toString(), record: toLexInPlace(cborToLexRecord(block)) as LexRecord }
        }
      },
    },
  }
}
