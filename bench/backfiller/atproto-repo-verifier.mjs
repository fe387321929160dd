// The baseline: @atproto/repo's verifyRepoCar path (readCarWithRoot + verifyRepo, records read
// from its block map and converted to lex JSON), behind the backfiller's RepoVerifier shape.
import { cborToLexRecord, readCarWithRoot, verifyRepo } from '@atproto/repo'
import { toLexInPlace } from '@firehose/atproto'

export async function atprotoRepoVerifier(bytes, { did, signingKey }) {
  const car = await readCarWithRoot(bytes)
  const verified = await verifyRepo(car.blocks, car.root, did, signingKey)
  const creates = verified.creates
  return {
    rev: verified.commit.rev,
    commitCid: car.root.toString(),
    recordCount: creates.length,
    records: {
      *[Symbol.iterator]() {
        for (const c of creates) {
          const block = car.blocks.get(c.cid)
          if (!block) throw new Error(`missing record block ${c.cid.toString()}`)
          yield { collection: c.collection, rkey: c.rkey, cid: c.cid.toString(), record: toLexInPlace(cborToLexRecord(block)) }
        }
      },
    },
  }
}
