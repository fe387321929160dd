/**
 * Verification and record JSON, shared by the in-process path and the verify threads.
 *
 * `extractRepo` verifies a CAR, then decodes every record into the tail of its `create` event's
 * JSON (`"collection":…,"rkey":…,"cid":…,"record":…}`), as UTF-8 bytes into one buffer: a record
 * that does not decode fails the repo before anything is emitted. Loaded as a worker
 * (workerData.role === 'verify'), this module serves `{ id, car, did, signingKey }` messages with
 * that buffer and the tails' end offsets, both transferred (not copied).
 *
 * This file imports only packages (no relative modules): under vitest the worker runs the .ts
 * source through Node's type stripping, which does not rewrite `.js` import paths.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { JsonSink, OutputBudgetError, verifyRepoCar, writeCreateEventTail, type OutputBudget } from '@firehose/atproto'
import type { RepoVerifier } from './verifier.js'

export interface ExtractedRepo {
  commit: string
  rev: string
  /** MST root CID string, when the verifier gives it */
  data?: string
  /** the records' event tails as UTF-8, one after another, in key order */
  json: Uint8Array
  /** `ends[i]`: where record i's tail ends in `json` (it starts where the previous one ends) */
  ends: Uint32Array
}

export interface VerifyRequest {
  id: number
  car: Uint8Array
  did: string
  signingKey: string
  budget?: OutputBudget
}

export type VerifyReply =
  | { id: number; ok: true; commit: string; rev: string; data?: string; json: Uint8Array; ends: Uint32Array }
  | { id: number; ok: false; name: string; message: string; reason?: string; cid?: string; offset?: number; budget?: string }

const YIELD_EVERY = 2000

/**
 * `yieldNow`: let the event loop run every few thousand records (in-process use). `budget`: what the
 * repo may produce (OutputBudgetError past it, before anything is emitted).
 */
export async function extractRepo(
  verify: RepoVerifier,
  car: Uint8Array,
  expected: { did: string; signingKey: string },
  yieldNow?: () => Promise<void>,
  budget?: OutputBudget,
): Promise<ExtractedRepo> {
  const carBytes = car.byteLength // before the verifier may detach it
  const repo = await verify(car, expected)
  const n = repo.recordCount
  if (budget && n > budget.maxRecords) {
    throw new OutputBudgetError('records', `${n} records in a CAR of ${carBytes} bytes (at most ${budget.maxRecords})`)
  }
  const maxJson = budget?.maxJsonBytes ?? Infinity
  const overJson = (): never => {
    throw new OutputBudgetError('json_bytes', `records would make more than ${maxJson} bytes of JSON from a CAR of ${carBytes} bytes`)
  }
  // The JSON is a little larger than the CAR (1.08x for the bench's records); the sink doubles
  // when it is not enough. V8 counts the whole allocation as external memory, so not much more.
  const sink = new JsonSink(Math.min(Math.ceil(carBytes * 1.25) + 4096, maxJson + 1))
  const ends = new Uint32Array(n)
  let i = 0
  if (repo.leaves) {
    // our verifier: straight from the record blocks to JSON bytes
    const leaves = repo.leaves
    const used = budget ? new Uint8Array(leaves.blocks.size) : undefined
    let repeated = 0
    for (; i < n; i++) {
      if (used && budget) {
        const block = leaves.blockIds[i]!
        if (used[block] === 1 && ++repeated > budget.maxRepeatedRecords) {
          throw new OutputBudgetError(
            'repeated_records',
            `more than ${budget.maxRepeatedRecords} leaves point at record blocks already used`,
          )
        }
        used[block] = 1
      }
      writeCreateEventTail(leaves, i, sink)
      if (sink.length > maxJson) overJson()
      ends[i] = sink.length
      if (yieldNow && (i + 1) % YIELD_EVERY === 0) await yieldNow()
    }
  } else {
    for (const r of repo.records) {
      if (i >= n) throw new Error(`verifier reported ${n} records but yielded more`)
      sink.utf8(
        `"collection":${JSON.stringify(r.collection)},"rkey":${JSON.stringify(r.rkey)},"cid":${JSON.stringify(r.cid)},"record":${JSON.stringify(r.record)}}`,
      )
      if (sink.length > maxJson) overJson()
      ends[i++] = sink.length
      if (yieldNow && i % YIELD_EVERY === 0) await yieldNow()
    }
    if (i !== n) throw new Error(`verifier reported ${n} records but yielded ${i}`)
  }
  return {
    commit: repo.commitCid,
    rev: repo.rev,
    ...(repo.dataCid ? { data: repo.dataCid } : {}),
    json: sink.buf.subarray(0, sink.length),
    ends,
  }
}

if (!isMainThread && parentPort && (workerData as { role?: string } | null)?.role === 'verify') {
  const port = parentPort
  const verify: RepoVerifier = (car, expected) => verifyRepoCar(car, expected)
  port.on('message', (req: VerifyRequest) => {
    extractRepo(verify, req.car, req, undefined, req.budget)
      .then((r) => {
        const reply: VerifyReply = {
          id: req.id,
          ok: true,
          commit: r.commit,
          rev: r.rev,
          ...(r.data ? { data: r.data } : {}),
          json: r.json,
          ends: r.ends,
        }
        // both own their whole buffers: moved, not copied
        port.postMessage(reply, [r.json.buffer as ArrayBuffer, r.ends.buffer as ArrayBuffer])
      })
      .catch((err: unknown) => {
        const e = err as { name?: string; message?: string; reason?: string; cid?: string; offset?: number; budget?: string }
        const reply: VerifyReply = {
          id: req.id,
          ok: false,
          name: e.name ?? 'Error',
          message: e.message ?? String(err),
          ...(e.reason !== undefined ? { reason: e.reason } : {}),
          ...(e.cid !== undefined ? { cid: e.cid } : {}),
          ...(e.offset !== undefined ? { offset: e.offset } : {}),
          ...(e.budget !== undefined ? { budget: e.budget } : {}),
        }
        port.postMessage(reply)
      })
  })
}
