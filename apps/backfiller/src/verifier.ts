/**
 * The verification step, as a function the backfiller is given: by default @firehose/atproto's
 * `verifyRepoCar` (@atcute: ~8x faster than @atproto/repo's, see bench/backfiller). Tests and the
 * bench pass `@atproto/repo` behind the same shape as the oracle / baseline.
 */
import { verifyRepoCar, type RepoLeaves, type RepoRecord } from '@firehose/atproto'

export interface VerifiedRepoView {
  rev: string
  /** commit CID string */
  commitCid: string
  /** MST root CID string (known to our verifier; the repo's sync state after a backfill) */
  dataCid?: string
  recordCount: number
  /** records in key order, decoded lazily (may throw VerificationError('bad-record')) */
  records: Iterable<RepoRecord>
  /** our verifier's leaves: the records are then written as JSON straight from their blocks */
  leaves?: RepoLeaves
}

/** Verify a whole repo before anything is emitted; throw CarParseError / VerificationError. */
export type RepoVerifier = (car: Uint8Array, expected: { did: string; signingKey: string }) => Promise<VerifiedRepoView>

export const defaultVerifier: RepoVerifier = (car, expected) => verifyRepoCar(car, expected)
