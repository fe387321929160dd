/**
 * Full-repo verification for the backfiller: CAR → checked blocks → signed commit → canonical MST
 * → records, decoded lazily one at a time.
 */
import { CarReader } from './car.js'
import { cidBytesToString } from './cid.js'
import { decodeCommit, verifyCommitSignature } from './commit.js'
import { VerificationError } from './errors.js'
import { decodeLexRecord, LexDecodeError, type LexRecord } from './lex.js'
import { leafCid, leafPath, walkMstLeaves, type RepoLeaves } from './mst.js'

export interface VerifyRepoOptions {
  /** expected repo DID; the commit's `did` must equal it */
  did: string
  /** the DID document's atproto signing key, as a did:key (multikey) */
  signingKey: string
}

export interface RepoRecord {
  collection: string
  rkey: string
  /** record CID string */
  cid: string
  record: LexRecord
}

export interface VerifiedRepo {
  did: string
  rev: string
  /** commit CID string */
  commitCid: string
  /** MST root CID string */
  dataCid: string
  version: 2 | 3
  /** number of records (known without decoding them) */
  recordCount: number
  /**
   * The records in key order, each decoded when reached. Iterate as often as needed; each pass
   * decodes again. Throws `VerificationError('bad-record')` for a record whose block (whose CID
   * was already checked) is not a valid DAG-CBOR map.
   */
  records: Iterable<RepoRecord>
  /**
   * The tree's leaves (paths, record CIDs, record blocks) in key order, for callers that turn
   * records into JSON themselves (`writeCreateEventTail`).
   */
  leaves: RepoLeaves
}

const READ_STEP_BYTES = 2 * 1024 * 1024

/**
 * Verifies a repo CAR (`com.atproto.sync.getRepo` output). Everything but record decoding is done
 * before returning, so a repo either verifies as a whole or throws: `CarParseError` for malformed
 * or truncated bytes, `VerificationError` (with `reason`) for content that fails a check.
 */
export const verifyRepoCar = async (bytes: Uint8Array, options: VerifyRepoOptions): Promise<VerifiedRepo> => {
  // a large CAR is read in steps, letting the event loop run in between (I/O of other repos)
  const reader = new CarReader(bytes)
  for (;;) {
    reader.read(reader.position + READ_STEP_BYTES)
    if (reader.done) break
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  const { roots, blocks } = reader.result()
  const root = roots[0]
  if (root === undefined) throw new VerificationError('bad-commit', 'CAR has no root')
  const commitBytes = blocks.get(root)
  if (commitBytes === undefined) {
    throw new VerificationError('missing-block', 'commit block not in CAR', cidBytesToString(root))
  }
  const commit = decodeCommit(root, commitBytes)
  if (commit.did !== options.did) {
    throw new VerificationError('did-mismatch', `commit is for ${commit.did}, expected ${options.did}`)
  }
  await verifyCommitSignature(commit, options.signingKey)
  const leaves = walkMstLeaves(blocks, commit.data)
  return {
    did: commit.did,
    rev: commit.rev,
    commitCid: cidBytesToString(root),
    dataCid: cidBytesToString(commit.data),
    version: commit.version,
    recordCount: leaves.count,
    records: { [Symbol.iterator]: () => iterateRecords(leaves) },
    leaves,
  }
}

/** The error for a record block (whose CID was checked) that is not a valid lex record. */
export const badRecordError = (path: string, cid: Uint8Array, err: LexDecodeError): VerificationError =>
  new VerificationError('bad-record', `record ${path}: ${err.message}`, cidBytesToString(cid), { cause: err })

function* iterateRecords(leaves: RepoLeaves): Generator<RepoRecord> {
  for (let i = 0; i < leaves.count; i++) {
    const path = leafPath(leaves, i)
    const cid = leafCid(leaves, i)
    // presence was checked by the walk and the bytes against the CID by readCar
    const bytes = leaves.blocks.bytesOf(leaves.blockIds[i]!)
    let record: LexRecord
    try {
      record = decodeLexRecord(bytes)
    } catch (err) {
      if (!(err instanceof LexDecodeError)) throw err
      throw badRecordError(path, cid, err)
    }
    const slash = path.indexOf('/')
    yield { collection: path.slice(0, slash), rkey: path.slice(slash + 1), cid: cidBytesToString(cid), record }
  }
}
