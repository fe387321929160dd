/**
 * A relay or PDS: `com.atproto.sync.subscribeRepos` → `firehose_live` (one entry per repo
 * operation, identity and account events) and `repo_backfill` (`#sync`, and commits whose blocks
 * cannot be read, so that a backfiller re-fetches the repo). Decoding is `@firehose/atproto`'s.
 */
import {
  CommitBlockError,
  decodeFrame,
  firehoseMessageToEvents,
  isValidDid,
  type FirehoseResult,
  type FrameBody,
  type InvalidItem,
} from '@firehose/atproto'
import { encodeEvent, encodeRepoJob, streamForDid, type StreamEvent } from '@firehose/streams'
import { toHttpBase } from './config.js'
import { HostStream, type HostContext } from './host-stream.js'
import { errorLabel, typeLabel } from './metrics.js'
import { LiveVerifier } from './verify/live.js'

/** A decoded subscribeRepos frame: a message mapped to events/actions, or an error frame. */
export type FirehoseFrame =
  | { kind: 'message'; type: string; result: FirehoseResult; body?: FrameBody }
  | { kind: 'error'; error: string; message?: string }

/**
 * Frame bytes → decoded frame. Throws for a frame that cannot be decoded (`FrameDecodeError`,
 * `CommitBlockError`). Injectable so that the bench can run the same pipeline with another decoder.
 */
export type FirehoseDecoder = (bytes: Uint8Array) => FirehoseFrame

export const decodeFirehoseFrame: FirehoseDecoder = (bytes) => {
  const frame = decodeFrame(bytes)
  if (frame.kind === 'error') return frame
  return { kind: 'message', type: frame.type, result: firehoseMessageToEvents(frame.type, frame.body), body: frame.body }
}

/** seq and repo of a frame whose message could not be mapped, when its envelope decodes. */
function peekFrame(bytes: Uint8Array): { seq?: number; did?: string } {
  try {
    const frame = decodeFrame(bytes)
    if (frame.kind !== 'message') return {}
    const { seq, repo } = frame.body
    const out: { seq?: number; did?: string } = {}
    if (typeof seq === 'number' && Number.isSafeInteger(seq)) out.seq = seq
    // only a commit's loss needs a backfill; identity/account messages carry no records
    if (frame.type === '#commit' && typeof repo === 'string' && isValidDid(repo)) out.did = repo
    return out
  } catch {
    return {}
  }
}

export class RelayStream extends HostStream {
  private readonly httpBase: string
  /** sync 1.1 verification (INGESTER_VERIFY != none): verify/live.ts */
  private readonly live: LiveVerifier | undefined

  constructor(
    ctx: HostContext,
    host: string,
    private readonly decode: FirehoseDecoder = decodeFirehoseFrame,
  ) {
    super(ctx, host, 'com.atproto.sync.subscribeRepos', ctx.config.firehoseStream, 'relay')
    this.httpBase = toHttpBase(host)
    this.live =
      ctx.sync &&
      new LiveVerifier(ctx.sync, {
        host: this.name,
        logger: this.log,
        metrics: ctx.metrics.sync,
        enqueueResync: (did, reason, rev) => this.enqueueBackfill(did, reason === 'sync' ? 'sync' : `resync_${reason}`, rev),
        pause: () => this.sub.pause(),
        resume: () => ctx.producer.isFull() || this.sub.resume(),
      })
  }

  /** With verification, the cursor moves in frame order once each frame's work is done. */
  protected override handled(seq: number): void {
    if (this.live) this.live.inOrder(() => super.handled(seq))
    else super.handled(seq)
  }

  override async close(): Promise<void> {
    await super.close()
    await this.live?.drain()
  }

  /** After the producer flushed: the claims of the commits it wrote are confirmed first. */
  override async closeCursor(): Promise<void> {
    await this.live?.settled()
    await super.closeCursor()
  }

  protected defaultCursor(): number | undefined {
    return undefined
  }

  protected handleFrame(bytes: Buffer): void {
    let frame: FirehoseFrame
    try {
      frame = this.decode(bytes)
    } catch (err) {
      this.countFrame('undecodable')
      if (err instanceof CommitBlockError) {
        this.decodeError(err.reason, err, err.seq, bytes.length)
        // the repo's commit is lost to us: have a backfiller fetch the whole repo again
        const seq = err.seq
        if (err.did && this.live) this.live.undecodable(err.did, () => seq !== undefined && super.handled(seq))
        else {
          if (err.did) this.enqueueBackfill(err.did, 'undecodable_commit')
          if (seq !== undefined) this.handled(seq)
        }
      } else {
        // FrameDecodeError carries no seq: read what the frame's envelope still says
        const { seq, did } = peekFrame(bytes)
        this.decodeError('frame', err, seq, bytes.length)
        if (did !== undefined) this.enqueueBackfill(did, 'undecodable_commit')
        if (seq !== undefined) this.handled(seq)
      }
      return
    }
    if (frame.kind === 'error') {
      this.countFrame('error')
      this.onErrorFrame(frame.error, frame.message)
      return
    }
    this.countFrame(typeLabel(frame.type))
    const res = frame.result
    switch (res.kind) {
      case 'events': {
        if (res.invalid) this.countInvalid(res.seq, res.invalid)
        if (this.live) {
          const seq = res.seq
          const did = typeof frame.body?.repo === 'string' ? frame.body.repo : res.events[0]?.did
          this.live.events(
            frame.type,
            frame.body,
            did,
            () => this.writeEvents(res.events as StreamEvent[]),
            () => super.handled(seq),
          )
          return
        }
        void this.writeEvents(res.events as StreamEvent[])
        this.handled(res.seq)
        return
      }
      case 'sync':
        if (this.live && frame.type === '#sync') {
          const seq = res.seq
          this.lastTime = res.time
          this.live.sync(res.did, frame.body, () => super.handled(seq))
          return
        }
        this.log.info({ did: res.did, rev: res.rev, seq: res.seq }, '#sync: repo state reset; enqueued for backfill')
        this.enqueueBackfill(res.did, 'sync', res.rev)
        this.lastTime = res.time
        this.handled(res.seq)
        return
      case 'info':
        this.ctx.metrics.infoMessages.inc({ host: this.name, name: errorLabel(res.name) })
        if (res.name === 'OutdatedCursor') {
          this.log.warn(
            { message: res.message, cursor: this.resumeSeq },
            'OutdatedCursor: the requested cursor is older than the host keeps; events in between are lost (backfill repos to recover)',
          )
        } else {
          this.log.info({ name: res.name, message: res.message }, '#info message')
        }
        return
      case 'unknown':
        this.log.debug({ type: res.type, seq: res.seq }, 'unknown message type skipped')
        if (res.seq !== undefined) this.handled(res.seq)
        return
    }
  }

  /** Ops (or whole messages) dropped for their syntax: counted by reason, one log line per frame. */
  private countInvalid(seq: number, invalid: InvalidItem[]): void {
    for (const item of invalid) this.ctx.metrics.invalidOps.inc({ host: this.name, reason: item.reason })
    // the values come from the peer: cut, and pino escapes them
    const examples = invalid.slice(0, 5).map((i) => ({ reason: i.reason, value: i.value.slice(0, 120) }))
    this.log.warn({ seq, dropped: invalid.length, examples }, 'ops with invalid syntax dropped (DID, rev, collection NSID or rkey)')
  }

  /**
   * A frame's events → the live stream(s), tracked by the checkpoint. Resolves once they are in
   * Redis (the producer writes each stream's batches in order: the last entry's promise covers
   * the stream's earlier ones).
   */
  private writeEvents(events: StreamEvent[]): Promise<void> {
    const { config, producer } = this.ctx
    const last = events[events.length - 1]
    if (last) this.lastTime = last.time
    if (config.streamShards <= 1) {
      // the hot path: one stream, one checkpoint entry per frame
      const stream = config.firehoseStream
      let written: Promise<void> | undefined
      for (const event of events) written = producer.add(stream, ['event', encodeEvent(event)])
      if (!written) return Promise.resolve()
      this.checkpoint.track(stream, written, events.length)
      return written
    }
    const lastOf = new Map<string, Promise<void>>()
    for (const event of events) {
      const stream = streamForDid(config.firehoseStream, event.did, config.streamShards)
      const written = producer.add(stream, ['event', encodeEvent(event)])
      this.checkpoint.track(stream, written)
      lastOf.set(stream, written)
    }
    const all = Promise.all(lastOf.values()).then(() => undefined)
    // a rejection (the producer closed) is the checkpoint's to handle; callers may ignore it
    all.catch(() => undefined)
    return all
  }

  private enqueueBackfill(did: string, reason: string, rev?: string): void {
    const { config, producer, metrics } = this.ctx
    const stream = streamForDid(config.repoStream, did, config.streamShards)
    const job = rev === undefined ? { did, host: this.httpBase } : { did, host: this.httpBase, rev }
    // over the mark: one small job per #sync (or unreadable commit), so a full repo_backfill
    // (the listing fills it) never stops the relay, and the cursor still waits for the job
    this.checkpoint.track(stream, producer.add(stream, ['repo', encodeRepoJob(job)], { overMark: true }))
    metrics.backfillEnqueued.inc({ host: this.name, reason })
  }

  private onErrorFrame(error: string, message?: string): void {
    this.ctx.metrics.errorFrames.inc({ host: this.name, error: errorLabel(error) })
    switch (error) {
      case 'FutureCursor':
        // our cursor is ahead of the host's sequence (the host was reset or replaced): the only
        // way forward is live; the stored cursor is overwritten by the new seqs
        this.log.error({ message, cursor: this.resumeSeq }, 'FutureCursor: cursor ahead of the host; reconnecting live')
        this.resumeSeq = undefined
        break
      case 'ConsumerTooSlow':
        this.log.warn({ message, cursor: this.resumeSeq }, 'ConsumerTooSlow: the host dropped us; reconnecting from our cursor')
        break
      default:
        this.log.error({ error, message }, 'error frame; reconnecting')
    }
    // the host closes the stream after an error frame; make sure of it
    this.sub.reconnect(error)
  }
}
