/**
 * Per-repo sync state (sync 1.1): the last accepted `rev`, the MST root (`data` CID) it left, and
 * a status, shared by every ingester instance and kept across restarts, in Redis (single node or
 * Cluster).
 *
 * Layout, built for tens of millions of DIDs: hashes of ~`keysPerBucket` DIDs each,
 * `<prefix>:<fnv1a(did) % buckets>`, small enough to stay listpack-encoded (Redis's default
 * `hash-max-listpack-entries` is 128), so a DID costs its field and value plus a few bytes:
 * - field: a did:plc's 24-char base32 id as its 15 bytes; any other DID as its UTF-8 text
 *   (a `\0` appended when that is 15 bytes long, so the two forms never meet)
 * - value: status (1 byte) ‖ rev as the 64-bit number of its TID (8 bytes) ‖ data CID digest
 *   (32 bytes; 36 for the whole CID when it is not a sha256 dag-cbor CIDv1; 0 when unknown).
 *   A desynchronized repo with a run (`RepoSyncState.run`): status | 0x80 ‖ rev ‖ the run's
 *   first rev (8 bytes) ‖ the length of its prevData (1 byte) ‖ prevData (as data) ‖ data.
 * Measured (`node bench/ingester-verify/sync-state-memory.mjs`, Redis 7.0.15, 100k did:plc DIDs
 * at 80 DIDs a bucket, listpack): 67 bytes a DID by `MEMORY USAGE` summed over the buckets and by
 * the `INFO memory` used_memory delta alike, i.e. ~2.8 GB for 42M DIDs; the same values as one
 * key a DID take 171 bytes. (Keeping 16 of the 32 digest bytes would save 16 more a DID.)
 * The bucket count must not change once state is written (DIDs would move): the default
 * (2^19 = 524,288) gives ~80 DIDs a bucket at 42M DIDs.
 *
 * Every write of one DID is one key, so it works on a Cluster as is; `compareAndSet` is one Lua
 * script (HGET, compare, HSET): when two ingesters read the same commit from two relays, both
 * verify it against the same state and try to move it on; exactly one succeeds, the other gets
 * the new state back and drops its copy. That is what makes "several relays, one write".
 * The move is a **claim** until the winner confirms that the commit's events are in Redis: the
 * bucket holds, next to the DID's state, the winner's claim id, removed by `confirm`. A copy of
 * a commit that finds the state at or past it and still claimed by another waits for the
 * confirmation and, when none comes (the winner was killed between the move and the write),
 * writes the commit itself (`CommitGate`): a state never stands for a commit that was lost.
 */
import { fnv1a } from './names.js'
import type { RedisClient } from './redis.js'

export type RepoSyncStatus = 'active' | 'desynchronized' | 'resyncing'

export interface RepoSyncState {
  status: RepoSyncStatus
  /** last accepted rev (a TID), null when none is known */
  rev: string | null
  /** MST root CID (binary CIDv1) after that rev, null when unknown */
  data: Uint8Array | null
  /**
   * Desynchronized only: the run of commits written since the break, each verified on its own
   * and chained onto the one before (`prevData` = the previous one's `data`); `rev` and `data`
   * above are its last commit's. A resync whose snapshot reaches the run's start completes the
   * repo at the run's end (apps/backfiller/src/sync-state.ts).
   */
  run?: SyncRun | null
}

export interface SyncRun {
  /** the run's first commit */
  rev: string
  /** the MST root CID (binary) that first commit applies to: the repo just before the run */
  prevData: Uint8Array
}

export type CompareAndSetResult = { ok: true } | { ok: false; current: RepoSyncState | null }

export interface SyncStateStoreOptions {
  redis: RedisClient
  /** key prefix of the buckets (default `sync_state`) */
  keyPrefix?: string
  /** number of bucket hashes (default 2^19); never change it on live data */
  buckets?: number
}

const STATUSES: readonly RepoSyncStatus[] = ['active', 'desynchronized', 'resyncing']
const TID_CHARS = '234567abcdefghijklmnopqrstuvwxyz'
const TID = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/
const PLC = /^did:plc:[a-z2-7]{24}$/
const B32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** The hash field of a DID (see the module doc). */
export const syncStateField = (did: string): Buffer => {
  if (PLC.test(did)) {
    const out = Buffer.allocUnsafe(15)
    let acc = 0
    let bits = 0
    let at = 0
    for (let i = 8; i < 32; i++) {
      acc = (acc << 5) | B32.indexOf(did[i]!)
      bits += 5
      if (bits >= 8) {
        bits -= 8
        out[at++] = (acc >> bits) & 0xff
      }
    }
    return out
  }
  const text = Buffer.from(did, 'utf8')
  return text.length === 15 ? Buffer.concat([text, Buffer.alloc(1)]) : text
}

const SHA256_DAG_CBOR = [1, 0x71, 0x12, 0x20] as const

/** A CID's stored bytes: its digest alone when it is a sha256 dag-cbor CIDv1 (the usual). */
const packCid = (cid: Uint8Array): Uint8Array =>
  cid.length === 36 && SHA256_DAG_CBOR.every((b, i) => cid[i] === b) ? cid.subarray(4) : cid

const unpackCid = (bytes: Uint8Array): Uint8Array => {
  if (bytes.length !== 32) return new Uint8Array(bytes)
  const cid = new Uint8Array(36)
  cid.set(SHA256_DAG_CBOR, 0)
  cid.set(bytes, 4)
  return cid
}

const tidNumber = (rev: string): bigint => {
  if (!TID.test(rev)) throw new RangeError(`rev ${JSON.stringify(rev)} is not a TID`)
  let n = 0n
  for (const c of rev) n = (n << 5n) | BigInt(TID_CHARS.indexOf(c))
  return n
}

const tidString = (n: bigint): string => {
  let rev = ''
  for (let i = 0; i < 13; i++) {
    rev = TID_CHARS[Number(n & 31n)]! + rev
    n >>= 5n
  }
  return rev
}

const RUN_FLAG = 0x80

/** The stored value of a state. Throws `RangeError` for a rev that is not a TID. */
export const encodeSyncState = (state: RepoSyncState): Buffer => {
  const data = state.data === null ? null : packCid(state.data)
  const run = state.run ?? null
  if (run !== null && state.status !== 'desynchronized')
    throw new RangeError(`a run is kept for a desynchronized repo only (${state.status})`)
  const prevData = run === null ? null : packCid(run.prevData)
  if (prevData !== null && prevData.length > 255) throw new RangeError(`prevData of ${prevData.length} bytes`)
  const head = run === null ? 9 : 18 + prevData!.length
  const out = Buffer.alloc(head + (data === null ? 0 : data.length))
  out[0] = STATUSES.indexOf(state.status) | (run === null ? 0 : RUN_FLAG)
  if (state.rev !== null) out.writeBigUInt64BE(tidNumber(state.rev), 1)
  if (run !== null) {
    out.writeBigUInt64BE(tidNumber(run.rev), 9)
    out[17] = prevData!.length
    out.set(prevData!, 18)
  }
  if (data !== null) out.set(data, head)
  return out
}

/** A stored value back to the state. */
export const decodeSyncState = (value: Buffer): RepoSyncState => {
  const flags = value[0] ?? 0
  const status = STATUSES[flags & ~RUN_FLAG]
  if (status === undefined || value.length < 9) throw new RangeError('not a sync state value')
  const n = value.readBigUInt64BE(1)
  const rev = n === 0n ? null : tidString(n)
  let head = 9
  let run: SyncRun | undefined
  if ((flags & RUN_FLAG) !== 0) {
    if (value.length < 18 || value.length < 18 + value[17]!) throw new RangeError('not a sync state value')
    head = 18 + value[17]!
    run = { rev: tidString(value.readBigUInt64BE(9)), prevData: unpackCid(value.subarray(18, head)) }
  }
  const rest = value.subarray(head)
  const data = rest.length > 0 ? unpackCid(rest) : null
  return run === undefined ? { status, rev, data } : { status, rev, data, run }
}

const CAS = 'firehoseSyncStateCas'
// KEYS[1] bucket; ARGV[1] field, ARGV[2] expected value ('' = absent), ARGV[3] new value
// ('' = delete), ARGV[4] the claim field, ARGV[5] the claim ('' = none: the field is removed;
// '=' = the claim there is kept)
const CAS_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return {0, cur} end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
if ARGV[5] == '' then redis.call('HDEL', KEYS[1], ARGV[4]) elseif ARGV[5] ~= '=' then redis.call('HSET', KEYS[1], ARGV[4], ARGV[5]) end
return {1}`
const CONFIRM = 'firehoseSyncStateConfirm'
// KEYS[1] bucket; ARGV[1] field, ARGV[2] the claimed state's value, ARGV[3] the claim field,
// ARGV[4] the claim: removed when the claim is still that one and the state still at that rev
// (bytes 2-9 of the value; its status may have changed: a resync completed at that rev)
const CONFIRM_LUA = `
if redis.call('HGET', KEYS[1], ARGV[3]) ~= ARGV[4] then return 0 end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or string.sub(cur, 2, 9) ~= string.sub(ARGV[2], 2, 9) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[3])
return 1`
type CasClient = Record<
  `${typeof CAS}Buffer`,
  (key: string, field: Buffer, expected: Buffer, next: Buffer, claimField: Buffer, claim: string) => Promise<[number, Buffer?]>
> &
  Record<typeof CONFIRM, (key: string, field: Buffer, state: Buffer, claimField: Buffer, claim: string) => Promise<number>>

/**
 * The hash field of a DID's claim (next to its state, in the same bucket: one key, so one
 * script on a Cluster): 0x01, then the state's field. It never equals a state field: a did:plc's
 * state field is 15 bytes and its claim field 16; any other DID's state field starts with `d`.
 * But a did:plc's state field may itself start with 0x01 (did:plc:ae…–ah…): fields are not told
 * apart by their first byte; ask `claimOf` for a DID's claim.
 */
const claimField = (did: string): Buffer => Buffer.concat([CLAIM_TAG, syncStateField(did)])
const CLAIM_TAG = Buffer.from([0x01])

/** `compareAndSet`'s claim argument that leaves the DID's claim as it is. */
export const KEEP_CLAIM: unique symbol = Symbol('keep the claim')

export class SyncStateStore {
  private readonly redis: RedisClient
  private readonly prefix: string
  private readonly buckets: number

  constructor(options: SyncStateStoreOptions) {
    this.redis = options.redis
    this.prefix = options.keyPrefix ?? 'sync_state'
    this.buckets = options.buckets ?? 1 << 19
    if (!Number.isInteger(this.buckets) || this.buckets < 1) throw new RangeError(`buckets must be a positive integer, got ${this.buckets}`)
    if (typeof (this.redis as unknown as Partial<CasClient>)[`${CAS}Buffer`] !== 'function') {
      this.redis.defineCommand(CAS, { numberOfKeys: 1, lua: CAS_LUA })
      this.redis.defineCommand(CONFIRM, { numberOfKeys: 1, lua: CONFIRM_LUA })
    }
  }

  /** The bucket key holding a DID. */
  keyFor(did: string): string {
    return `${this.prefix}:${fnv1a(did) % this.buckets}`
  }

  async get(did: string): Promise<RepoSyncState | null> {
    const value = await this.redis.hgetBuffer(this.keyFor(did), syncStateField(did))
    return value === null ? null : decodeSyncState(value)
  }

  /** Several DIDs at once (one HGET each, sent together). */
  async getMany(dids: readonly string[]): Promise<Array<RepoSyncState | null>> {
    const values = await Promise.all(dids.map((did) => this.redis.hgetBuffer(this.keyFor(did), syncStateField(did))))
    return values.map((v) => (v === null ? null : decodeSyncState(v)))
  }

  /** Unconditional write (e.g. a first state). Prefer `compareAndSet` where others may write. */
  async set(did: string, state: RepoSyncState): Promise<void> {
    await this.redis.hset(this.keyFor(did), syncStateField(did), encodeSyncState(state))
  }

  async delete(did: string): Promise<void> {
    await this.redis.hdel(this.keyFor(did), syncStateField(did))
  }

  /**
   * The DID's resync lease (`<prefix>:resync:<did>`, a plain key with a `PX` expiry), taken when
   * a resync is enqueued. `claimResync` takes it only when none is held (`SET NX`): the commit
   * of a desynchronized DID whose lease expired (its resync was dead-lettered or lost) enqueues
   * one more resync; `holdResync` takes it whatever was there.
   */
  resyncKey(did: string): string {
    return `${this.prefix}:resync:${did}`
  }

  async holdResync(did: string, ms: number): Promise<void> {
    await this.redis.set(this.resyncKey(did), '1', 'PX', ms)
  }

  async claimResync(did: string, ms: number): Promise<boolean> {
    return (await this.redis.set(this.resyncKey(did), '1', 'PX', ms, 'NX')) === 'OK'
  }

  /**
   * Atomically replaces the DID's state with `next` (null: removes it) if it is still exactly
   * `expected` (null: no state); otherwise changes nothing and returns the current state.
   * `claim`: who moved it, until `confirm` (the events of the commit that moved it are not
   * yet known to be written); without one, any claim of the DID is removed with the move;
   * `KEEP_CLAIM`: the claim there stays (a move to the same rev: its commit's write may still
   * be unconfirmed).
   */
  async compareAndSet(
    did: string,
    expected: RepoSyncState | null,
    next: RepoSyncState | null,
    claim?: string | typeof KEEP_CLAIM,
  ): Promise<CompareAndSetResult> {
    const cas = (this.redis as unknown as CasClient)[`${CAS}Buffer`]
    const [ok, current] = await cas.call(
      this.redis,
      this.keyFor(did),
      syncStateField(did),
      expected === null ? Buffer.alloc(0) : encodeSyncState(expected),
      next === null ? Buffer.alloc(0) : encodeSyncState(next),
      claimField(did),
      claim === KEEP_CLAIM ? '=' : (claim ?? ''),
    )
    if (ok === 1) return { ok: true }
    return { ok: false, current: current === undefined || current.length === 0 ? null : decodeSyncState(current) }
  }

  /** Who moved the DID's state and has not confirmed it yet (null: nobody). */
  async claimOf(did: string): Promise<string | null> {
    return this.redis.hget(this.keyFor(did), claimField(did))
  }

  /**
   * The events of the commit that moved the state to `state` under `claim` are written: the
   * claim goes, unless the state's rev or the claim changed since (then the newer move's stands).
   */
  async confirm(did: string, state: RepoSyncState, claim: string): Promise<boolean> {
    const confirm = (this.redis as unknown as CasClient)[CONFIRM]
    return (await confirm.call(this.redis, this.keyFor(did), syncStateField(did), encodeSyncState(state), claimField(did), claim)) === 1
  }
}
