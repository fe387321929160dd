/**
 * Sync 1.1 on the live path: the decision for one `#commit` or `#sync` of one repo, against the
 * repo's shared state (`SyncStateStore`: status, last rev, data CID, in Redis for every ingester
 * instance and restart). See apps/ingester/README.md, "Sync 1.1 verification".
 *
 * `#commit`: desynchronized repo → verified on its own and written, as a run the resync completes
 * (`desynchronized`); otherwise verified against the repo's signing key and
 * its last state, then the state is moved on by compare-and-set, and only then may the commit's
 * events be written. Two ingesters reading one commit from two relays both verify it; one wins the
 * compare-and-set and writes it, the other sees a state at or past its rev and drops its copy.
 * A refusal other than `rev-not-newer` is a break: the repo is marked desynchronized (by
 * compare-and-set, so one ingester wins) and the winner enqueues ONE resync (a repo backfill);
 * the backfiller sets the state to the snapshot's when it completes.
 * Unknown state (a DID never seen, nor backfilled): a commit that verifies on its own (signature,
 * and at level full its MST proof) is accepted and starts the repo's state (trust on first use).
 *
 * The move is a claim until the commit's events are in Redis (`AcceptedCommit.confirm`): an
 * ingester killed between the move and the write leaves the claim, and the replay of the commit
 * from its stored cursor (or another relay's copy) that finds the state at or past it, still
 * claimed by another gate, waits up to `claimWaitMs` for the confirmation and then writes the
 * commit itself (`ingester_commits_rewritten_total`), verified on its own (signature, proof).
 * A duplicate downstream is harmless (the indexer's writes are idempotent); a lost commit is not.
 */
import {
  IdentityError,
  sameBytes,
  verifyCommitMessage,
  verifySyncMessage,
  type CommitRefusalReason,
  type FrameBody,
  type RepoSyncPoint,
  type SigningKey,
  type VerifiedSync,
  type RefusedMessage,
} from '@firehose/atproto'
import { randomBytes } from 'node:crypto'
import { sleep, type Logger } from '@firehose/service'
import type { CompareAndSetResult, RepoSyncState, SyncStateStore } from '@firehose/streams'
import type { SyncMetrics } from '../metrics.js'
import type { SigningKeys } from './signing-keys.js'

export type GateLevel = 'full' | 'signature'

/** What became of a commit of a desynchronized repo (`CommitGate.desynchronized`). */
type DesynchronizedOutcome =
  | { kind: 'written'; commit: AcceptedCommit }
  | { kind: 'dropped' }
  | { kind: 'refused' }
  | { kind: 'copy' }
  | { kind: 'changed'; current: RepoSyncState | null }

/** Why a repo is marked desynchronized (metric label). */
export type BreakReason = CommitRefusalReason | 'no-key' | 'undecodable'

export interface CommitGateOptions {
  store: SyncStateStore
  keys: SigningKeys
  level: GateLevel
  metrics: SyncMetrics
  logger: Logger
  /** metric label of the host */
  host: string
  /** hand a resync job (repo backfill) to the producer */
  enqueueResync: (did: string, reason: string, rev?: string) => void
  /**
   * INGESTER_RESYNC_RETRY_SECS in ms (0: never): a desynchronized repo whose resync is older
   * than this (dead-lettered, lost) gets one more at its next commit (the resync lease).
   */
  resyncRetryMs: number
  /** how long a copy of a claimed commit waits for the claimant's confirmation (default 3 s) */
  claimWaitMs?: number
}

/** A commit whose events may be written; `confirm` with the promise of their being in Redis. */
export interface AcceptedCommit {
  confirm(written: Promise<void>): void
  /** settles once the claim is confirmed, or left in place (the write failed) */
  readonly confirmed: Promise<void>
}

/** Verdict reasons that are not breaks: a replay, or the second relay's copy. */
const NOT_A_BREAK: ReadonlySet<string> = new Set(['rev-not-newer'])
const MAX_CAS_ROUNDS = 5
const LOG_EVERY_MS = 5000
const CLAIM_WAIT_MS = 3000
const CLAIM_POLL_MS = 25
const MAX_STALE_CLAIMS = 1024

const lastOf = (s: RepoSyncState | null): RepoSyncPoint | null =>
  s !== null && s.rev !== null && s.data !== null ? { rev: s.rev, data: s.data } : null

const isGenesis = (body: FrameBody): boolean =>
  (body.since === null || body.since === undefined) && (body.prevData === null || body.prevData === undefined)

export class CommitGate {
  private lastLog = 0
  private suppressed = 0
  /** this gate's claims (one gate a relay a process: a restart is a new claimant) */
  private readonly claimId = randomBytes(8).toString('hex')
  /** claims this gate found unconfirmed past `claimWaitMs` (their claimant is taken for dead) */
  private readonly staleClaims = new Set<string>()
  /** aborted by `close`: copies stop waiting for other ingesters' confirmations */
  private readonly closing = new AbortController()

  constructor(private readonly o: CommitGateOptions) {}

  /**
   * Closing: a copy waiting for another ingester's confirmation gives up (throws), so that its
   * frame stays unacknowledged (its replay decides) and the close does not wait on another.
   */
  close(): void {
    this.closing.abort()
  }

  /**
   * `#commit` of `did`: accepted (its events may be written) when verified and this gate moved
   * the state, or when it is a copy of a commit whose claimant never confirmed its write.
   */
  async commit(did: string, body: FrameBody): Promise<AcceptedCommit | null> {
    const { store, metrics, host } = this.o
    let state = await store.get(did)
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      if (state !== null && state.status !== 'active') {
        const outcome = await this.desynchronized(did, state, body)
        if (outcome.kind === 'refused') return null
        if (outcome.kind === 'changed') {
          // the state changed meanwhile (a resync completed?): decide again against it
          state = outcome.current
          continue
        }
        if (outcome.kind === 'copy') return this.copy(did, body, round > 0)
        await this.retryResync(did)
        if (outcome.kind === 'written') return outcome.commit
        metrics.commitsDropped.inc({ host, reason: 'desynchronized' })
        return null
      }
      const last = lastOf(state)
      const verdict = await this.verify(did, body, last)
      if (verdict === 'no-key') {
        await this.markDesynchronized(did, state, 'no-key')
        return null
      }
      if (!verdict.ok) {
        if (verdict.reason === 'rev-not-newer') return this.copy(did, body, round > 0)
        if (verdict.reason === 'prev-data-mismatch') {
          const outcome = await this.gap(did, state, body)
          if (outcome.kind !== 'changed') return outcome.kind === 'written' ? outcome.commit : null
          state = outcome.current
          continue
        }
        metrics.commitsRefused.inc({ host, reason: verdict.reason })
        if (NOT_A_BREAK.has(verdict.reason)) return null
        this.logRefusal(did, body, verdict.reason, verdict.message)
        await this.markDesynchronized(did, state, verdict.reason)
        return null
      }
      const next: RepoSyncState = { status: 'active', rev: verdict.rev, data: verdict.data }
      const cas = await store.compareAndSet(did, state, next, this.claimId)
      if (cas.ok) {
        metrics.commitsVerified.inc({ host })
        return this.accepted(did, next, this.claimId)
      }
      state = cas.current
    }
    this.o.logger.warn({ did }, 'sync state kept changing under a commit; dropped (the chain check of the next commit decides)')
    metrics.commitsDropped.inc({ host, reason: 'contended' })
    return null
  }

  /**
   * A commit at or before the repo's state (a replay, or another relay's copy): dropped once
   * the move past it is confirmed; written when the claimant has not confirmed it within
   * `claimWaitMs` (killed between its move and its write), if the commit verifies on its own.
   */
  private async copy(did: string, body: FrameBody, raced: boolean): Promise<AcceptedCommit | null> {
    const { store, metrics, host } = this.o
    const deadline = Date.now() + (this.o.claimWaitMs ?? CLAIM_WAIT_MS)
    let claim = await store.claimOf(did)
    while (claim !== null && claim !== this.claimId && !this.staleClaims.has(claim) && Date.now() < deadline) {
      await sleep(CLAIM_POLL_MS, this.closing.signal)
      if (this.closing.signal.aborted) throw new Error(`closing: the copy of ${did} ${body.rev} waits for another's claim`)
      claim = await store.claimOf(did)
    }
    if (claim === null || claim === this.claimId) {
      // confirmed (or this gate's own write, in flight): the commit is in Redis
      if (raced) metrics.commitsDropped.inc({ host, reason: 'duplicate' })
      else metrics.commitsRefused.inc({ host, reason: 'rev-not-newer' })
      return null
    }
    const state = await store.get(did)
    const verdict = await this.verify(did, body, null)
    if (verdict === 'no-key' || !verdict.ok || state === null) {
      metrics.commitsRefused.inc({ host, reason: verdict === 'no-key' ? 'no-key' : verdict.ok ? 'rev-not-newer' : verdict.reason })
      return null
    }
    metrics.commitsRewritten.inc({ host })
    this.o.logger.warn(
      { did, rev: body.rev, claim },
      'commit claimed by an ingester that never confirmed writing it (killed?): written again',
    )
    // the claimant is taken for dead: its other claims are not waited for again
    if (this.staleClaims.size >= MAX_STALE_CLAIMS) this.staleClaims.clear()
    this.staleClaims.add(claim)
    // Once written, the claim goes, but only when this copy is the claimed commit itself: a
    // claim at a newer rev also covers the newer commits the claimant accepted, whose replays
    // must still find it.
    if (body.rev === state.rev) return this.accepted(did, state, claim)
    return { confirm: (written) => void written.catch(() => undefined), confirmed: Promise.resolve() }
  }

  /**
   * A commit of a desynchronized repo, verified on its own (signature, and at level full its
   * proof: the ops turn its `prevData` into its `data`): `refused` when it does not verify
   * (counted and logged, whatever the repo's state). When it verifies it is `written`, as a
   * claim like any accepted commit, and the state records the run of such commits: it extends
   * the run when it chains onto the run's last commit, and starts a new one otherwise. A resync
   * whose snapshot reaches the run's start completes the repo at the run's end, so a repo that
   * commits faster than it can be fetched still heals (apps/backfiller/src/sync-state.ts).
   * A commit without `prevData` (no run can hold it) is `dropped` and its rev, when the newest,
   * kept in the state: a resync whose snapshot is older does not end the desynchronization.
   * A commit at or before the state's rev is a `copy` (replay, another relay) when the run
   * holds it, `dropped` otherwise; `changed` when a compare-and-set found the state moved.
   */
  private async desynchronized(did: string, state: RepoSyncState, body: FrameBody): Promise<DesynchronizedOutcome> {
    const { store, metrics, host } = this.o
    const rev = body.rev
    if (typeof rev !== 'string') return { kind: 'dropped' }
    if (state.rev !== null && rev <= state.rev) return state.run && rev >= state.run.rev ? { kind: 'copy' } : { kind: 'dropped' }
    const verdict = await this.verify(did, body, null)
    if (verdict === 'no-key') return { kind: 'dropped' }
    if (!verdict.ok) {
      metrics.commitsRefused.inc({ host, reason: verdict.reason })
      this.logRefusal(did, body, verdict.reason, verdict.message)
      return { kind: 'refused' }
    }
    const prevData = verdict.prevData
    let next: RepoSyncState
    if (prevData === null) next = { status: state.status, rev: verdict.rev, data: state.data }
    else {
      const chains = state.run && state.data !== null && sameBytes(prevData, state.data)
      const run = chains && state.run ? state.run : { rev: verdict.rev, prevData }
      next = { status: state.status, rev: verdict.rev, data: verdict.data, run }
    }
    const cas = await store.compareAndSet(did, state, next, next.run ? this.claimId : undefined)
    if (!cas.ok) return { kind: 'changed', current: cas.current }
    if (!next.run) return { kind: 'dropped' }
    metrics.desynchronizedWritten.inc({ host })
    return { kind: 'written', commit: this.accepted(did, next, this.claimId) }
  }

  private accepted(did: string, state: RepoSyncState, claim: string): AcceptedCommit {
    const { store, logger } = this.o
    let confirmed: Promise<void> = Promise.resolve()
    return {
      confirm(written) {
        confirmed = written.then(
          () =>
            store.confirm(did, state, claim).then(
              () => undefined,
              (err: Error) =>
                logger.warn({ did, err: err.message }, 'claim not confirmed (Redis error): a copy will write the commit again'),
            ),
          // not written (the producer closed): the claim stays, and the replay writes it
          () => undefined,
        )
      },
      get confirmed() {
        return confirmed
      },
    }
  }

  /**
   * `#sync`: the repo's state is now its signed commit's; a resync is enqueued when its data
   * differs from the state's (or the state was unknown or not active). A refused
   * `#sync` (other than a stale one) is a break.
   */
  async sync(did: string, body: FrameBody): Promise<void> {
    const { store, metrics, host } = this.o
    let state = await store.get(did)
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      let key: SigningKey
      try {
        key = await this.o.keys.get(did)
      } catch (err) {
        this.logRefusal(did, body, 'no-key', (err as Error).message)
        await this.markDesynchronized(did, state, 'no-key')
        return
      }
      // a #sync may repeat the last commit's rev (the PDS sends one on reactivation): only an
      // older rev is stale, so the rev is compared here rather than by verifySyncMessage
      let verdict: VerifiedSync | RefusedMessage = verifySyncMessage(body, { key })
      if (!verdict.ok && verdict.reason === 'bad-signature') verdict = verifySyncMessage(body, { key: await this.freshKey(did) })
      if (verdict.ok && state?.status === 'active' && state.rev !== null && verdict.rev < state.rev) {
        verdict = { ok: false, reason: 'rev-not-newer', message: `#sync rev ${verdict.rev} is older than the state's ${state.rev}` }
      }
      if (!verdict.ok) {
        metrics.commitsRefused.inc({ host, reason: verdict.reason })
        if (NOT_A_BREAK.has(verdict.reason)) return
        this.logRefusal(did, body, verdict.reason, verdict.message)
        await this.markDesynchronized(did, state, verdict.reason)
        return
      }
      const same = state?.status === 'active' && state.data !== null && sameBytes(state.data, verdict.data)
      // the state follows the #sync at once: later commits chain onto its data; the resync fills
      // in the records (the backfiller leaves a state newer than its snapshot alone). The job is
      // enqueued even when the data is the same (as before verification: a #sync also follows a
      // reactivation, after which the indexer needs the records again): lossless
      const cas = await store.compareAndSet(did, state, { status: 'active', rev: verdict.rev, data: verdict.data })
      if (cas.ok) {
        this.resync(did, same ? 'sync' : 'sync_differs', verdict.rev)
        return
      }
      state = cas.current
    }
  }

  /** `#identity`: the signing key may have rotated. */
  identity(did: string): void {
    this.o.keys.invalidate(did)
  }

  /** A `#commit` whose frame could not be read (its records are lost to us): a break. */
  async undecodable(did: string): Promise<void> {
    const state = await this.o.store.get(did)
    if (state !== null && state.status !== 'active') return
    await this.markDesynchronized(did, state, 'undecodable')
  }

  private async verify(did: string, body: FrameBody, last: RepoSyncPoint | null) {
    let key: SigningKey
    try {
      key = await this.o.keys.get(did)
    } catch (err) {
      this.o.metrics.commitsRefused.inc({ host: this.o.host, reason: 'no-key' })
      this.logRefusal(did, body, 'no-key', err instanceof IdentityError ? `${err.reason}: ${err.message}` : (err as Error).message)
      return 'no-key' as const
    }
    // a repo's first commit (no `since`, no `prevData`: the tree before it is empty) carries no
    // proof to check; its signature and rev are checked
    const level = isGenesis(body) ? 'signature' : this.o.level
    const verdict = verifyCommitMessage(body, { key, last, level })
    if (verdict.ok || verdict.reason !== 'bad-signature') return verdict
    // the key may have rotated without our seeing the #identity: once more with a fresh one
    try {
      return verifyCommitMessage(body, { key: await this.freshKey(did), last, level })
    } catch {
      return verdict
    }
  }

  private freshKey(did: string): Promise<SigningKey> {
    return this.o.keys.get(did, true)
  }

  /**
   * A commit that verifies (signature, proof) but does not chain onto the state
   * (`prev-data-mismatch`: a commit was lost on the way): a break, but the commit itself is
   * authentic, so it is `written` and starts the desynchronized repo's run (`desynchronized`);
   * `changed` when the state moved meanwhile (another relay's copy won: decide again).
   */
  private async gap(did: string, state: RepoSyncState | null, body: FrameBody): Promise<DesynchronizedOutcome> {
    const own = await this.verify(did, body, null)
    if (own === 'no-key' || !own.ok || own.prevData === null) {
      // it verified against the state a moment ago: only a key rotation in between gets here
      await this.markDesynchronized(did, state, 'prev-data-mismatch')
      return { kind: 'dropped' }
    }
    const next: RepoSyncState = { status: 'desynchronized', rev: own.rev, data: own.data, run: { rev: own.rev, prevData: own.prevData } }
    const cas = await this.markDesynchronized(did, state, 'prev-data-mismatch', next, this.claimId)
    if (!cas.ok) return { kind: 'changed', current: cas.current }
    this.o.metrics.desynchronizedWritten.inc({ host: this.o.host })
    this.logBreak(
      did,
      body,
      'prev-data-mismatch',
      'a gap in the commit chain: repo desynchronized, resync enqueued; this commit is authentic and written',
    )
    return { kind: 'written', commit: this.accepted(did, next, this.claimId) }
  }

  /**
   * Marks the repo desynchronized (`next`: the state it moves to, by default the last one's
   * rev and data with status desynchronized; `claim` as for `compareAndSet`); the ingester that
   * wins the compare-and-set enqueues the one resync.
   */
  private async markDesynchronized(
    did: string,
    state: RepoSyncState | null,
    reason: BreakReason,
    next: RepoSyncState = { status: 'desynchronized', rev: state?.rev ?? null, data: state?.data ?? null },
    claim?: string,
  ): Promise<CompareAndSetResult> {
    if (state !== null && state.status !== 'active') return { ok: false, current: state }
    const cas = await this.o.store.compareAndSet(did, state, next, claim)
    if (!cas.ok) return cas // another ingester (or the backfiller) changed it: its decision stands
    this.o.metrics.reposDesynchronized.inc({ host: this.o.host, reason })
    if (this.o.resyncRetryMs > 0) await this.o.store.holdResync(did, this.o.resyncRetryMs)
    this.resync(did, reason)
    return cas
  }

  /**
   * A commit of a desynchronized repo: when its resync lease has expired (the resync was
   * dead-lettered, lost, or never enqueued by this version), the one ingester that takes the
   * lease again enqueues one more resync (reason `retry`).
   */
  private async retryResync(did: string): Promise<void> {
    if (this.o.resyncRetryMs <= 0 || !(await this.o.store.claimResync(did, this.o.resyncRetryMs))) return
    this.o.logger.warn({ did }, 'repo still desynchronized after INGESTER_RESYNC_RETRY_SECS: one more resync enqueued')
    this.resync(did, 'retry')
  }

  private resync(did: string, reason: string, rev?: string): void {
    this.o.metrics.resyncsEnqueued.inc({ host: this.o.host, reason })
    this.o.enqueueResync(did, reason, rev)
  }

  private logRefusal(did: string, body: FrameBody, reason: string, message: string): void {
    this.logBreak(did, body, reason, 'commit refused by sync verification', message)
  }

  /** A warning about one commit, at most one per LOG_EVERY_MS (with the number suppressed). */
  private logBreak(did: string, body: FrameBody, reason: string, msg: string, message?: string): void {
    const now = Date.now()
    if (now - this.lastLog < LOG_EVERY_MS) {
      this.suppressed++
      return
    }
    this.o.logger.warn({ did, seq: body.seq, rev: body.rev, reason, message, suppressed: this.suppressed }, msg)
    this.lastLog = now
    this.suppressed = 0
  }
}
