/**
 * The relay stream's side of sync 1.1 verification: every frame of a relay passes through one
 * `OrderedWork` (per-DID order, cursor in frame order); `#commit` frames go through the
 * `CommitGate` before their events are written; `#identity` drops the DID's cached key first.
 */
import type { FrameBody } from '@firehose/atproto'
import { sleep, type Logger } from '@firehose/service'
import type { SyncStateStore } from '@firehose/streams'
import type { SyncMetrics } from '../metrics.js'
import { CommitGate, type GateLevel } from './commit-gate.js'
import { OrderedWork } from './ordered.js'
import type { SigningKeys } from './signing-keys.js'

/** What every relay of one ingester shares. */
export interface SyncVerification {
  level: GateLevel
  store: SyncStateStore
  keys: SigningKeys
  /** INGESTER_RESYNC_RETRY_SECS in ms (0: never), see CommitGateOptions */
  resyncRetryMs: number
  /** see CommitGateOptions (default 3 s) */
  claimWaitMs?: number
}

export interface LiveVerifierOptions {
  host: string
  logger: Logger
  metrics: SyncMetrics
  enqueueResync: (did: string, reason: string, rev?: string) => void
  pause: () => void
  /** resume the socket unless something else (the producer) holds it paused */
  resume: () => void
  maxInFlight?: number
}

export class LiveVerifier {
  private readonly gate: CommitGate
  private readonly work: OrderedWork
  /** confirmations of accepted commits not yet settled (`settled` waits for them) */
  private readonly confirming = new Set<Promise<void>>()

  constructor(
    shared: SyncVerification,
    private readonly o: LiveVerifierOptions,
  ) {
    this.gate = new CommitGate({ ...shared, metrics: o.metrics, logger: o.logger, host: o.host, enqueueResync: o.enqueueResync })
    this.work = new OrderedWork({ logger: o.logger, maxInFlight: o.maxInFlight ?? 2000, onFull: o.pause, onRoom: o.resume })
  }

  /**
   * A repo's `#commit` (`write` its events once verified; its promise: they are in Redis) or
   * `#identity`/`#account` (written as is).
   */
  events(type: string, body: FrameBody | undefined, did: string | undefined, write: () => Promise<void>, done: () => void): void {
    if (type === '#commit') {
      if (did === undefined || body === undefined) {
        this.work.push(undefined, undefined, done)
        return
      }
      this.work.push(
        did,
        async () => {
          const accepted = await this.gate.commit(did, body)
          if (accepted === null) return
          // the state's move stays a claim until the events are in Redis
          accepted.confirm(write())
          const confirmed = accepted.confirmed
          this.confirming.add(confirmed)
          void confirmed.finally(() => this.confirming.delete(confirmed))
        },
        done,
      )
      return
    }
    if (type === '#identity' && did !== undefined) this.gate.identity(did)
    // in the DID's order: after its earlier commits are written
    this.work.push(
      did,
      did === undefined ? undefined : async () => void write(),
      did === undefined
        ? () => {
            void write()
            done()
          }
        : done,
    )
  }

  /** `#sync`: state from its signed commit, resync when the data differs. */
  sync(did: string, body: FrameBody | undefined, done: () => void): void {
    if (body === undefined) {
      this.work.push(undefined, undefined, done)
      return
    }
    this.work.push(did, () => this.gate.sync(did, body), done)
  }

  /** A `#commit` that could not be decoded: a break of that repo's chain. */
  undecodable(did: string, done: () => void): void {
    this.work.push(did, () => this.gate.undecodable(did), done)
  }

  /** Anything else with a seq: done in frame order. */
  inOrder(done: () => void): void {
    this.work.push(undefined, undefined, done)
  }

  /**
   * After the socket closed: the frames in flight are finished (a copy waiting for another
   * ingester's confirmation, or a work failing, gives up: its frame stays unacknowledged and its
   * replay decides), for at most `ms`. Then the producer may be closed.
   */
  async drain(ms = 30_000): Promise<void> {
    this.gate.close()
    this.work.close()
    if (!(await resolvesWithin(this.work.quiet(), ms)))
      this.o.logger.warn(
        { inFlight: this.work.inFlight, waitedMs: ms },
        'frames still being verified at close: left unacknowledged (a commit accepted meanwhile keeps its claim; its replay writes it)',
      )
  }

  /**
   * After the producer closed (every accepted commit written, or refused by the closed
   * producer): resolves once their claims are confirmed (or left for the replay), for at most
   * `ms`. Then Redis may be closed.
   */
  async settled(ms = 10_000): Promise<void> {
    const all = (async () => {
      while (this.confirming.size > 0) await Promise.all([...this.confirming])
    })()
    if (!(await resolvesWithin(all, ms)))
      this.o.logger.warn(
        { confirming: this.confirming.size, waitedMs: ms },
        'claims not confirmed at close (Redis slow?): the replay writes their commits again',
      )
  }
}

/** True once `p` resolves, false when `ms` pass first (the timer is cleared either way). */
async function resolvesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  const timeout = new AbortController()
  const settled = await Promise.race([p.then(() => true), sleep(ms, timeout.signal).then(() => false)])
  timeout.abort()
  return settled
}
