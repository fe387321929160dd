/** @atproto/repo as the oracle: build repos with it, and read what it accepts. */
import type { Keypair } from '@atproto/crypto'
import { getFullRepo, MemoryBlockstore, readCarWithRoot, Repo, verifyRepo, WriteOpAction, type RecordCreateOp } from '@atproto/repo'
import { fromUint8Array as readCarEntries } from '@atcute/car'
import * as dagCbor from '@ipld/dag-cbor'
import { encodeCar, type CarBlockInput } from '../car-write.js'
import type { TestRecord } from '../testing.js'
import { ipldToJson, jsonToIpld } from './helpers.js'

export const buildRepoWithAtproto = async (
  did: string,
  keypair: Keypair,
  records: TestRecord[],
): Promise<{ car: Uint8Array; dataCid: string; commitCid: string; rev: string }> => {
  const storage = new MemoryBlockstore()
  const writes = records.map(
    (r) =>
      ({
        action: WriteOpAction.Create,
        collection: r.collection,
        rkey: r.rkey,
        record: jsonToIpld(r.record),
      }) as RecordCreateOp,
  )
  const repo = await Repo.create(storage, did, keypair, writes)
  const chunks: Uint8Array[] = []
  for await (const chunk of getFullRepo(storage, repo.cid)) chunks.push(chunk)
  return { car: Buffer.concat(chunks), dataCid: repo.commit.data.toString(), commitCid: repo.cid.toString(), rev: repo.commit.rev }
}

export interface OracleRecord {
  collection: string
  rkey: string
  cid: string
  record: unknown
}

/** What @atproto/repo's readCarWithRoot + verifyRepo extract (records decoded with @ipld/dag-cbor). */
export const oracleVerify = async (car: Uint8Array, did: string, signingKey: string | undefined): Promise<OracleRecord[]> => {
  const { root, blocks } = await readCarWithRoot(car)
  const verified = await verifyRepo(blocks, root, did, signingKey)
  return verified.creates.map((c) => {
    const bytes = blocks.get(c.cid)
    if (!bytes) throw new Error(`oracle: no block for ${c.collection}/${c.rkey}`)
    return { collection: c.collection, rkey: c.rkey, cid: c.cid.toString(), record: ipldToJson(dagCbor.decode(bytes)) }
  })
}

/** CAR entries in order, for tampering. */
export const carEntries = (car: Uint8Array): { roots: Uint8Array[]; blocks: CarBlockInput[] } => {
  const reader = readCarEntries(car)
  const blocks: CarBlockInput[] = []
  for (const e of reader) blocks.push({ cid: e.cid.bytes, bytes: e.bytes })
  return { roots: reader.roots.map((r) => (r as unknown as { bytes: Uint8Array }).bytes), blocks }
}

export const rebuildCar = (roots: Uint8Array[], blocks: CarBlockInput[]): Uint8Array => encodeCar(roots, blocks)

export const sortRecords = <T extends { collection: string; rkey: string }>(records: T[]): T[] =>
  [...records].sort((a, b) => (`${a.collection}/${a.rkey}` < `${b.collection}/${b.rkey}` ? -1 : 1))
