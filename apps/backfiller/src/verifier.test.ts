/**
 * The fast verifier (@firehose/atproto, @atcute) against the oracle (@atproto/repo): both accept
 * the same repos with the same records, and both reject each tampered CAR.
 */
import { CarParseError, VerificationError } from '@firehose/atproto'
import { buildSignedRepo } from '@firehose/atproto/testing'
import { describe, expect, it } from 'vitest'
import { atprotoRepoVerifier } from './test/oracle.js'
import { tamperedCars } from './test/tamper.js'
import { defaultVerifier, type RepoVerifier } from './verifier.js'

const collect = async (verify: RepoVerifier, car: Uint8Array, did: string, signingKey: string) => {
  const repo = await verify(car, { did, signingKey })
  return { rev: repo.rev, commitCid: repo.commitCid, records: [...repo.records] }
}

describe('verifier vs @atproto/repo oracle', () => {
  it('accepts the same repos and extracts the same records (incl. empty)', async () => {
    for (const count of [0, 1, 300]) {
      const repo = await buildSignedRepo({ did: 'did:plc:oracletest', count })
      const ours = await collect(defaultVerifier, repo.car, repo.did, repo.signingKey)
      const oracle = await collect(atprotoRepoVerifier, repo.car, repo.did, repo.signingKey)
      expect(ours.records.length).toBe(count)
      expect(ours).toEqual(oracle)
      const written = new Map(repo.records.map((r) => [`${r.collection}/${r.rkey}`, r]))
      for (const r of ours.records) {
        const w = written.get(`${r.collection}/${r.rkey}`)
        expect(w?.cid).toBe(r.cid)
        expect(r.record).toEqual(w?.record)
      }
    }
  })

  it('both reject every tampered CAR', async () => {
    const repo = await buildSignedRepo({ did: 'did:plc:oracletamper', count: 50 })
    for (const t of await tamperedCars(repo)) {
      const ours = await collect(defaultVerifier, t.car, repo.did, repo.signingKey).then(
        () => null,
        (e: unknown) => e,
      )
      const oracle = await collect(atprotoRepoVerifier, t.car, repo.did, repo.signingKey).then(
        () => null,
        (e: unknown) => e,
      )
      expect(ours, `ours accepted: ${t.name}`).toBeInstanceOf(Error)
      expect(oracle, `oracle accepted: ${t.name}`).toBeInstanceOf(Error)
      expect(ours, t.name).toBeInstanceOf(t.kind === 'parse' ? CarParseError : VerificationError)
    }
  })
})
