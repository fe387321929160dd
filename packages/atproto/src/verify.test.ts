import { BytesWrapper, decode, encode } from '@atcute/cbor'
import { P256PrivateKeyExportable } from '@atcute/crypto'
import { P256Keypair, Secp256k1Keypair } from '@atproto/crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { cidBytesToString, cidForDagCbor } from './cid.js'
import { CarParseError, VerificationError } from './errors.js'
import { buildRepoWithAtproto, carEntries, oracleVerify, rebuildCar, sortRecords } from './test/oracle.js'
import { buildSignedRepo, generateRecords, type TestRecord } from './testing.js'
import { verifyRepoCar } from './verify.js'
import { Secp256k1PrivateKeyExportable } from '@atcute/crypto'
import { encodeCar } from './car-write.js'
import { signCommit } from './commit.js'
import { buildMst } from './mst-build.js'
import { backfillEvents } from './backfill-events.js'

const DID = 'did:plc:oracletest0000000000000'

/** Records over several collections, including bytes and nested links. */
const makeRecords = (n: number): TestRecord[] => {
  const records = generateRecords(n, DID)
  for (let i = 0; i < 20; i++) {
    records.push({
      collection: 'com.example.bytes',
      rkey: `r${i}`,
      record: {
        $type: 'com.example.bytes',
        data: { $bytes: Buffer.from(`bytes-${i}`).toString('base64').replace(/=+$/, '') },
        nested: [{ link: { $link: 'bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a' } }, null, true, -7],
      },
    })
  }
  return records
}

const expectReject = async (p: Promise<unknown>, cls: typeof VerificationError | typeof CarParseError, reason?: string) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, 'expected a rejection').toBeInstanceOf(cls)
  if (reason !== undefined) expect((err as VerificationError).reason).toBe(reason)
}

describe('verifyRepoCar against @atproto/repo', () => {
  let keypair: Secp256k1Keypair
  let repo: Awaited<ReturnType<typeof buildRepoWithAtproto>>
  const records = makeRecords(2000)

  beforeAll(async () => {
    keypair = await Secp256k1Keypair.create()
    repo = await buildRepoWithAtproto(DID, keypair, records)
  })

  it('accepts an @atproto/repo repo and extracts exactly the oracle records', async () => {
    const ours = await verifyRepoCar(repo.car, { did: DID, signingKey: keypair.did() })
    expect(ours.did).toBe(DID)
    expect(ours.version).toBe(3)
    expect(ours.rev).toBe(repo.rev)
    expect(ours.commitCid).toBe(repo.commitCid)
    expect(ours.dataCid).toBe(repo.dataCid)
    expect(ours.recordCount).toBe(records.length)
    const oracle = await oracleVerify(repo.car, DID, keypair.did())
    const got = [...ours.records]
    expect(got).toEqual(sortRecords(oracle))
    // and they are the records that were written
    expect(got.map(({ collection, rkey, record }) => ({ collection, rkey, record }))).toEqual(sortRecords(records))
  })

  it('our testing helper builds the same tree as @atproto/repo', async () => {
    const ours = await buildSignedRepo({ did: DID, records })
    expect(ours.dataCid).toBe(repo.dataCid)
    const verified = await verifyRepoCar(ours.car, { did: DID, signingKey: ours.signingKey })
    expect(verified.recordCount).toBe(records.length)
    expect(await oracleVerify(ours.car, DID, ours.signingKey)).toHaveLength(records.length)
  })

  it('accepts a P-256 signed repo (both implementations)', async () => {
    const p256 = await P256Keypair.create()
    const small = await buildRepoWithAtproto(DID, p256, records.slice(0, 50))
    const ours = await verifyRepoCar(small.car, { did: DID, signingKey: p256.did() })
    expect([...ours.records]).toEqual(sortRecords(await oracleVerify(small.car, DID, p256.did())))
    const atcuteKey = await P256PrivateKeyExportable.createKeypair()
    const built = await buildSignedRepo({ did: DID, count: 30, key: atcuteKey })
    expect((await verifyRepoCar(built.car, { did: DID, signingKey: built.signingKey })).recordCount).toBe(30)
    await expect(oracleVerify(built.car, DID, built.signingKey)).resolves.toHaveLength(30)
  })

  it('accepts an empty repo (both implementations)', async () => {
    const empty = await buildRepoWithAtproto(DID, keypair, [])
    const ours = await verifyRepoCar(empty.car, { did: DID, signingKey: keypair.did() })
    expect(ours.recordCount).toBe(0)
    expect([...ours.records]).toEqual([])
    expect(await oracleVerify(empty.car, DID, keypair.did())).toEqual([])
  })

  it('rejects bad signature bytes (both)', async () => {
    const { roots, blocks } = carEntries(repo.car)
    const commitIdx = blocks.findIndex((b) => cidBytesToString(b.cid) === cidBytesToString(roots[0]!))
    const commit = decode(blocks[commitIdx]!.bytes) as Record<string, unknown>
    const sig = new Uint8Array((commit.sig as BytesWrapper).buf)
    sig[10]! ^= 0xff
    const bytes = encode({ ...commit, sig: new BytesWrapper(sig) })
    const cid = cidForDagCbor(bytes)
    const tampered = rebuildCar(
      [cid],
      blocks.map((b, i) => (i === commitIdx ? { cid, bytes } : b)),
    )
    await expectReject(verifyRepoCar(tampered, { did: DID, signingKey: keypair.did() }), VerificationError, 'bad-signature')
    await expect(oracleVerify(tampered, DID, keypair.did())).rejects.toThrow()
  })

  it('rejects a repo signed by another key (both)', async () => {
    const other = await Secp256k1Keypair.create()
    await expectReject(verifyRepoCar(repo.car, { did: DID, signingKey: other.did() }), VerificationError, 'bad-signature')
    await expect(oracleVerify(repo.car, DID, other.did())).rejects.toThrow()
  })

  it('rejects the wrong DID (both)', async () => {
    await expectReject(
      verifyRepoCar(repo.car, { did: 'did:plc:someoneelse', signingKey: keypair.did() }),
      VerificationError,
      'did-mismatch',
    )
    await expect(oracleVerify(repo.car, 'did:plc:someoneelse', keypair.did())).rejects.toThrow()
  })

  it('rejects a missing record block (both)', async () => {
    const { roots, blocks } = carEntries(repo.car)
    const victim = (await verifyRepoCar(repo.car, { did: DID, signingKey: keypair.did() })).records[Symbol.iterator]().next().value!
    const tampered = rebuildCar(
      roots,
      blocks.filter((b) => cidBytesToString(b.cid) !== victim.cid),
    )
    await expectReject(verifyRepoCar(tampered, { did: DID, signingKey: keypair.did() }), VerificationError, 'missing-block')
    await expect(oracleVerify(tampered, DID, keypair.did())).rejects.toThrow()
  })

  it('rejects a missing MST node (both)', async () => {
    const { roots, blocks } = carEntries(repo.car)
    // the block right after the commit is an MST node in getRepo order
    const tampered = rebuildCar(
      roots,
      blocks.filter((_b, i) => i !== 1),
    )
    await expectReject(verifyRepoCar(tampered, { did: DID, signingKey: keypair.did() }), VerificationError, 'missing-block')
    await expect(oracleVerify(tampered, DID, keypair.did())).rejects.toThrow()
  })

  it('rejects a block whose bytes do not match its CID (both)', async () => {
    const { roots, blocks } = carEntries(repo.car)
    const last = blocks.length - 1
    const bytes = new Uint8Array(blocks[last]!.bytes)
    bytes[bytes.length - 1]! ^= 0x01
    const tampered = rebuildCar(
      roots,
      blocks.map((b, i) => (i === last ? { cid: b.cid, bytes } : b)),
    )
    await expectReject(verifyRepoCar(tampered, { did: DID, signingKey: keypair.did() }), VerificationError, 'cid-mismatch')
    await expect(oracleVerify(tampered, DID, keypair.did())).rejects.toThrow()
  })

  it('rejects truncated bytes as CarParseError (oracle rejects too)', async () => {
    for (const cut of [5, Math.floor(repo.car.length / 2), repo.car.length - 3]) {
      const truncated = repo.car.subarray(0, cut)
      await expectReject(verifyRepoCar(truncated, { did: DID, signingKey: keypair.did() }), CarParseError)
      await expect(oracleVerify(truncated, DID, keypair.did())).rejects.toThrow()
    }
    await expectReject(verifyRepoCar(new Uint8Array(0), { did: DID, signingKey: keypair.did() }), CarParseError)
    await expectReject(verifyRepoCar(Buffer.from('not a car at all'), { did: DID, signingKey: keypair.did() }), CarParseError)
  })

  it('rejects a CAR whose root is not a commit', async () => {
    const { blocks } = carEntries(repo.car)
    const tampered = rebuildCar([blocks[1]!.cid], blocks)
    await expectReject(verifyRepoCar(tampered, { did: DID, signingKey: keypair.did() }), VerificationError, 'bad-commit')
  })

  // @atproto/repo upgrades a v2 commit to v3 (adding a rev) before checking the signature, so it
  // cannot verify a v2 signature over the original bytes; it is used here without the key.
  it('accepts a legacy v2 commit, checking its signature over the original bytes', async () => {
    const { roots, blocks } = carEntries(repo.car)
    const commitIdx = blocks.findIndex((b) => cidBytesToString(b.cid) === cidBytesToString(roots[0]!))
    const v3 = decode(blocks[commitIdx]!.bytes) as Record<string, unknown>
    const { sig: _sig, rev: _rev, ...rest } = v3
    const unsigned = { ...rest, version: 2 }
    const sig = await keypair.sign(encode(unsigned))
    const bytes = encode({ ...unsigned, sig: new BytesWrapper(sig) })
    const cid = cidForDagCbor(bytes)
    const v2car = rebuildCar(
      [cid],
      blocks.map((b, i) => (i === commitIdx ? { cid, bytes } : b)),
    )
    const ours = await verifyRepoCar(v2car, { did: DID, signingKey: keypair.did() })
    expect(ours.version).toBe(2)
    expect(ours.recordCount).toBe(records.length)
    expect([...ours.records]).toEqual(sortRecords(await oracleVerify(v2car, DID, undefined)))
    const other = await Secp256k1Keypair.create()
    await expectReject(verifyRepoCar(v2car, { did: DID, signingKey: other.did() }), VerificationError, 'bad-signature')
  })

  it('backfillEvents: one create per record (seq -2), then the repo event', async () => {
    const built = await buildSignedRepo({ did: DID, count: 5 })
    const verified = await verifyRepoCar(built.car, { did: DID, signingKey: built.signingKey })
    const events = [...backfillEvents(verified, '2024-01-01T00:00:00.000Z')]
    expect(events).toHaveLength(6)
    const base = { seq: -2, time: '2024-01-01T00:00:00.000Z', did: DID, commit: built.commitCid, rev: built.rev }
    expect(events[5]).toEqual({ type: 'repo', ...base })
    expect(events.slice(0, 5)).toEqual(sortRecords(built.records).map((r) => ({ type: 'create', ...base, ...r })))
  })

  it('a record block that is not a DAG-CBOR map fails when reached, as bad-record', async () => {
    const key = await Secp256k1PrivateKeyExportable.createKeypair()
    const good = encode({ $type: 'com.example.a', n: 1 })
    const notMap = encode([1, 2, 3])
    const unsorted = new Uint8Array([0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02]) // keys out of order
    const blocks = [good, notMap, unsorted].map((bytes) => ({ cid: cidForDagCbor(bytes), bytes }))
    const nodes: Array<{ cid: Uint8Array; bytes: Uint8Array }> = []
    const data = buildMst(
      blocks.map((b, i) => ({ key: `com.example.a/${i}`, cid: b.cid })),
      (cid, bytes) => nodes.push({ cid, bytes }),
    )
    const commit = await signCommit({ did: DID, data, rev: '3kaaaaaaaaaaa' }, key)
    const commitCid = cidForDagCbor(commit)
    const car = encodeCar([commitCid], [{ cid: commitCid, bytes: commit }, ...nodes, ...blocks])
    const verified = await verifyRepoCar(car, { did: DID, signingKey: await key.exportPublicKey('did') })
    expect(verified.recordCount).toBe(3)
    const it = verified.records[Symbol.iterator]()
    expect(it.next().value).toMatchObject({ rkey: '0', record: { $type: 'com.example.a', n: 1 } })
    expect(() => it.next()).toThrow(expect.objectContaining({ name: 'VerificationError', reason: 'bad-record' }))
  })

  it('rejects a malformed signing key', async () => {
    await expectReject(verifyRepoCar(repo.car, { did: DID, signingKey: 'did:key:zNope' }), VerificationError, 'bad-key')
  })
})
