/**
 * Sync 1.1 `#commit` / `#sync` frames made the way the PDS makes them (@atproto/pds's repo
 * transactor and sequencer): a real signed repo in @atproto/repo, each commit formatted by
 * `Repo.formatCommit`, the frame's blocks = new blocks + relevant blocks (the covering proofs),
 * ops with `prev` for updates and deletes, `prevData` = the previous commit's data CID.
 */
import type { Keypair } from '@atproto/crypto'
import {
  blocksToCarFile,
  BlockMap as AtprotoBlockMap,
  MemoryBlockstore,
  Repo,
  WriteOpAction,
  type RecordCreateOp,
  type RecordWriteOp,
} from '@atproto/repo'

/** @atproto/repo's CID type */
type CID = Repo['cid']
import * as dagCbor from '@ipld/dag-cbor'
import { decodeFrame, type FrameBody } from '../frames.js'
import { generateRecords, type TestRecord } from '../testing.js'
import { jsonToIpld } from './helpers.js'

export interface PdsWrite {
  action: 'create' | 'update' | 'delete'
  collection: string
  rkey: string
  record?: TestRecord['record']
}

export interface PdsCommit {
  /** the encoded frame, as the relay sends it */
  frame: Uint8Array
  /** its body, decoded by our frame decoder */
  body: FrameBody
  rev: string
  /** data CID after the commit (string) */
  data: string
  prevData: string
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

export const encodeFrameWithDagCbor = (type: string, body: Record<string, unknown>): Uint8Array =>
  concat(dagCbor.encode({ op: 1, t: type }), dagCbor.encode(body))

const decodedBody = (frame: Uint8Array): FrameBody => {
  const f = decodeFrame(frame)
  if (f.kind !== 'message') throw new Error('not a message frame')
  return f.body
}

export class PdsRepo {
  private seq = 0
  /** current record CIDs by path */
  private readonly records = new Map<string, CID>()

  private constructor(
    readonly did: string,
    readonly keypair: Keypair,
    private readonly storage: MemoryBlockstore,
    public repo: Repo,
  ) {}

  /** A repo of `count` generated records (one commit), as after a sign-up and some activity. */
  static async create(did: string, keypair: Keypair, count = 50): Promise<PdsRepo> {
    const storage = new MemoryBlockstore()
    const writes = generateRecords(count, did).map(
      (r) => ({ action: WriteOpAction.Create, collection: r.collection, rkey: r.rkey, record: jsonToIpld(r.record) }) as RecordCreateOp,
    )
    const repo = await Repo.create(storage, did, keypair, writes)
    const pds = new PdsRepo(did, keypair, storage, repo)
    for (const w of writes) {
      const path = `${w.collection}/${w.rkey}`
      pds.records.set(path, (await repo.data.get(path))!)
    }
    return pds
  }

  /** the current record paths */
  paths(): string[] {
    return [...this.records.keys()]
  }

  get rev(): string {
    return this.repo.commit.rev
  }

  /** the current data CID (binary) */
  get data(): Uint8Array {
    return this.repo.commit.data.bytes
  }

  /** Applies the writes as one commit and returns its `#commit` frame. */
  async commit(writes: PdsWrite[]): Promise<PdsCommit> {
    const prevData = this.repo.commit.data
    const ops: RecordWriteOp[] = writes.map((w) =>
      w.action === 'delete'
        ? ({ action: WriteOpAction.Delete, collection: w.collection, rkey: w.rkey } as RecordWriteOp)
        : ({
            action: w.action === 'create' ? WriteOpAction.Create : WriteOpAction.Update,
            collection: w.collection,
            rkey: w.rkey,
            record: jsonToIpld(w.record),
          } as RecordWriteOp),
    )
    const commit = await this.repo.formatCommit(ops, this.keypair)
    this.repo = await this.repo.applyCommit(commit)
    const frameOps = []
    for (const w of writes) {
      const path = `${w.collection}/${w.rkey}`
      const prev = this.records.get(path)
      const cid = w.action === 'delete' ? null : (await this.repo.data.get(path))!
      frameOps.push({ action: w.action, path, cid, ...(prev ? { prev } : {}) })
      if (cid) this.records.set(path, cid)
      else this.records.delete(path)
    }
    const blocks = new AtprotoBlockMap()
    blocks.addMap(commit.newBlocks)
    blocks.addMap(commit.relevantBlocks)
    const frame = encodeFrameWithDagCbor('#commit', {
      seq: ++this.seq,
      repo: this.did,
      commit: commit.cid,
      rev: commit.rev,
      since: commit.since,
      blocks: await blocksToCarFile(commit.cid, blocks),
      ops: frameOps,
      prevData,
      rebase: false,
      tooBig: false,
      blobs: [],
      time: new Date().toISOString(),
    })
    return { frame, body: decodedBody(frame), rev: commit.rev, data: this.repo.commit.data.toString(), prevData: prevData.toString() }
  }

  /** A `#sync` frame for the current commit (the commit block alone in a CAR). */
  async syncFrame(): Promise<{ frame: Uint8Array; body: FrameBody }> {
    const bytes = await this.storage.getBytes(this.repo.cid)
    if (!bytes) throw new Error('commit block not stored')
    const blocks = new AtprotoBlockMap()
    blocks.set(this.repo.cid, bytes)
    const frame = encodeFrameWithDagCbor('#sync', {
      seq: ++this.seq,
      did: this.did,
      rev: this.repo.commit.rev,
      blocks: await blocksToCarFile(this.repo.cid, blocks),
      time: new Date().toISOString(),
    })
    return { frame, body: decodedBody(frame) }
  }

  /** A new post record. */
  static post(text: string): TestRecord['record'] {
    return { $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() }
  }
}
