/**
 * Tampered variants of a signed repo CAR, for the verification tests: each must be rejected by
 * both verifiers and nothing of it emitted.
 */
import { BytesWrapper, decode as decodeCbor, encode as encodeCbor } from '@atcute/cbor'
import { Secp256k1PrivateKeyExportable } from '@atcute/crypto'
import { buildSignedRepo, encodeCar, type SignedRepo } from '@firehose/atproto/testing'
import { cidBytesToString, cidForDagCbor, sameBytes } from '@firehose/atproto'

interface Block {
  cid: Uint8Array
  bytes: Uint8Array
}

/** Splits a CAR v1 of 36-byte CIDs (what getRepo and our builder write) into root and blocks. */
export function splitCar(car: Uint8Array): { root: Uint8Array; blocks: Block[] } {
  let pos = 0
  const varint = (): number => {
    let n = 0
    let shift = 0
    for (;;) {
      const b = car[pos++] as number
      n += (b & 0x7f) * 2 ** shift
      if (b < 0x80) return n
      shift += 7
    }
  }
  const headerLen = varint()
  const header = decodeCbor(car.subarray(pos, pos + headerLen)) as { roots: { bytes: Uint8Array }[] }
  pos += headerLen
  const blocks: Block[] = []
  while (pos < car.length) {
    const len = varint()
    blocks.push({ cid: car.subarray(pos, pos + 36), bytes: car.subarray(pos + 36, pos + len) })
    pos += len
  }
  return { root: (header.roots[0] as { bytes: Uint8Array }).bytes, blocks }
}

/** Replaces the commit with `mutate(commit map)` re-encoded, under its new CID as root. */
function withCommit(repo: SignedRepo, mutate: (c: Record<string, unknown>) => void): Uint8Array {
  const { root, blocks } = splitCar(repo.car)
  const commitBlock = blocks.find((b) => sameBytes(b.cid, root)) as Block
  const commit = decodeCbor(commitBlock.bytes) as Record<string, unknown>
  mutate(commit)
  const bytes = encodeCbor(commit)
  const cid = cidForDagCbor(bytes)
  return encodeCar([cid], [{ cid, bytes }, ...blocks.filter((b) => b !== commitBlock)])
}

export interface TamperedCar {
  name: string
  car: Uint8Array
  /** 'parse' → CarParseError, 'verify' → VerificationError */
  kind: 'parse' | 'verify'
}

/** The six tampered CARs of the acceptance list, built from one good repo. */
export async function tamperedCars(repo: SignedRepo): Promise<TamperedCar[]> {
  const { root, blocks } = splitCar(repo.car)
  const recordCids = new Set(repo.records.map((r) => r.cid))
  const isRecord = (b: Block) => recordCids.has(cidBytesToString(b.cid))
  const firstRecord = blocks.find(isRecord) as Block

  const otherKey = await Secp256k1PrivateKeyExportable.createKeypair()
  const byOtherKey = await buildSignedRepo({ did: repo.did, records: repo.records, key: otherKey, rev: repo.rev })
  const wrongDid = await buildSignedRepo({ did: `${repo.did}x`, records: repo.records, key: repo.key, rev: repo.rev })

  const badSig = withCommit(repo, (c) => {
    const sig = Uint8Array.from((c.sig as BytesWrapper).buf)
    sig[10] = (sig[10] as number) ^ 0xff
    c.sig = new BytesWrapper(sig)
  })
  const missingRecord = encodeCar(
    [root],
    blocks.filter((b) => b !== firstRecord),
  )
  const corrupted = Uint8Array.from(firstRecord.bytes)
  corrupted[corrupted.length - 1] = (corrupted[corrupted.length - 1] as number) ^ 0x01
  const cidMismatch = encodeCar(
    [root],
    blocks.map((b) => (b === firstRecord ? { cid: b.cid, bytes: corrupted } : b)),
  )
  const truncated = repo.car.slice(0, Math.floor(repo.car.length * 0.6))

  return [
    { name: 'bad signature', car: badSig, kind: 'verify' },
    { name: 'signature by another key', car: byOtherKey.car, kind: 'verify' },
    { name: 'wrong DID', car: wrongDid.car, kind: 'verify' },
    { name: 'missing record block', car: missingRecord, kind: 'verify' },
    { name: 'block bytes do not match CID', car: cidMismatch, kind: 'verify' },
    { name: 'truncated body', car: truncated, kind: 'parse' },
  ]
}
