/**
 * Verification and record JSON, shared by the in-process path and the verify threads.
 *
 * `extractRepo` verifies a CAR, then decodes every record into the tail of its `create` event's
 * JSON (`"collection":…,"rkey":…,"cid":…,"record":…}`): a record that does not decode fails the
 * repo before anything is emitted. Loaded as a worker (workerData.role === 'verify'), this module
 * serves `{ id, car, did, signingKey }` messages with the tails joined by '\n' (JSON has no raw
 * newlines), so that a 100k-record repo crosses back as one string.
 *
 * This file imports only packages (no relative modules): under vitest the worker runs the .ts
 * source through Node's type stripping, which does not rewrite `.js` import paths.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { verifyRepoCar } from '@firehose/atproto'
import type { RepoVerifier } from './verifier.js'

export interface ExtractedRepo {
  commit: string
  rev: string
  /** one JSON tail per record, in key order */
  records: (string | undefined)[]
}

export interface VerifyRequest {
  id: number
  car: Uint8Array
  did: string
  signingKey: string
}

export type VerifyReply =
  | { id: number; ok: true; commit: string; rev: string; count: number; tails: string }
  | { id: number; ok: false; name: string; message: string; reason?: string; cid?: string; offset?: number }

const YIELD_EVERY = 2000

/** `yieldNow`: let the event loop run every few thousand records (in-process use). */
export async function extractRepo(
  verify: RepoVerifier,
  car: Uint8Array,
  expected: { did: string; signingKey: string },
  yieldNow?: () => Promise<void>,
): Promise<ExtractedRepo> {
  const repo = await verify(car, expected)
  const records: string[] = []
  for (const r of repo.records) {
    records.push(`"collection":${JSON.stringify(r.collection)},"rkey":${JSON.stringify(r.rkey)},"cid":${JSON.stringify(r.cid)},"record":${JSON.stringify(r.record)}}`)
    if (yieldNow && records.length % YIELD_EVERY === 0) await yieldNow()
  }
  if (records.length !== repo.recordCount) throw new Error(`verifier reported ${repo.recordCount} records but yielded ${records.length}`)
  return { commit: repo.commitCid, rev: repo.rev, records }
}

if (!isMainThread && parentPort && (workerData as { role?: string } | null)?.role === 'verify') {
  const port = parentPort
  const verify: RepoVerifier = (car, expected) => verifyRepoCar(car, expected)
  port.on('message', (req: VerifyRequest) => {
    extractRepo(verify, req.car, req)
      .then((r) => {
        const reply: VerifyReply = { id: req.id, ok: true, commit: r.commit, rev: r.rev, count: r.records.length, tails: r.records.join('\n') }
        port.postMessage(reply)
      })
      .catch((err: unknown) => {
        const e = err as { name?: string; message?: string; reason?: string; cid?: string; offset?: number }
        const reply: VerifyReply = {
          id: req.id, ok: false, name: e.name ?? 'Error', message: e.message ?? String(err),
          ...(e.reason !== undefined ? { reason: e.reason } : {}),
          ...(e.cid !== undefined ? { cid: e.cid } : {}),
          ...(e.offset !== undefined ? { offset: e.offset } : {}),
        }
        port.postMessage(reply)
      })
  })
}
