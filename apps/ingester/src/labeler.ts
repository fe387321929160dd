/**
 * A labeler: `com.atproto.label.subscribeLabels` → `label_live`, one entry per accepted label
 * (`event` = `{"type":"label","label":…,"seq":…}`). Starts at cursor 0 when none is stored.
 *
 * Each label is checked (label-verify.ts: `src` is the labeler's configured DID, `cts` not in the
 * future beyond the allowed skew, `sig` by the DID's `#atproto_label` key); a refused label is
 * counted by reason and logged, and the rest of its frame is still written. Frames are handled in
 * order through a queue (label-queue.ts), labels in chunks with backpressure.
 */
import { createIdResolver, decodeFrame, labelsMessageToResult, signedLabelsMessage, type SignedLabelItem } from '@firehose/atproto'
import { backoffDelay, sleep } from '@firehose/service'
import { allShards, encodeLabelEvent, streamForLabel, type Label } from '@firehose/streams'
import { HostStream, type HostContext } from './host-stream.js'
import { FrameQueue } from './label-queue.js'
import { KeyUnavailableError, LabelVerifier, type LabelRefusal } from './label-verify.js'
import { errorLabel, typeLabel } from './metrics.js'

/** Labels verified between two yields to the event loop. */
const CHUNK = 256
/** Frames waiting before the socket is paused. */
const MAX_QUEUED_FRAMES = 16
/** Timeout of one DID document lookup. */
const IDENTITY_TIMEOUT_MS = 10_000

export class LabelerStream extends HostStream {
  readonly did: string
  private readonly verifier: LabelVerifier
  private readonly queue: FrameQueue
  private readonly stopped: AbortController = new AbortController()
  private pausedByProducer = false
  private pausedByQueue = false

  constructor(ctx: HostContext, host: string) {
    super(ctx, host, 'com.atproto.label.subscribeLabels', ctx.config.labelStream, 'labeler')
    const did = ctx.config.labelerDids.get(host)
    if (did === undefined) throw new Error(`labeler ${host} has no configured DID`)
    this.did = did
    const resolver = createIdResolver({
      plcUrl: ctx.config.plcUrl,
      timeoutMs: IDENTITY_TIMEOUT_MS,
      ...(ctx.documentFetch ? { fetch: ctx.documentFetch } : {}),
    })
    this.verifier = new LabelVerifier({
      did,
      resolveKey: (d, fresh) => resolver.resolveLabelerKey(d, fresh),
      maxFutureSkewMs: ctx.config.labelMaxFutureSkewMs,
    })
    this.queue = new FrameQueue({
      maxQueued: MAX_QUEUED_FRAMES,
      handle: (bytes) => this.handleQueued(bytes),
      onError: (err) => {
        this.log.error({ err }, 'label frame handler failed; frame skipped')
        ctx.metrics.decodeErrors.inc({ host: this.name, reason: 'handler' })
      },
      onFull: (full) => {
        this.pausedByQueue = full
        this.applyPause()
      },
    })
  }

  protected defaultCursor(): number {
    return 0
  }

  override pause(): void {
    this.pausedByProducer = true
    this.applyPause()
  }

  override resume(): void {
    this.pausedByProducer = false
    this.applyPause()
  }

  override async close(): Promise<void> {
    this.stopped.abort()
    await this.queue.stop()
    await super.close()
  }

  private applyPause(): void {
    if (this.pausedByProducer || this.pausedByQueue) this.sub.pause()
    else this.sub.resume()
  }

  protected handleFrame(bytes: Buffer): void {
    this.queue.push(bytes)
  }

  private async handleQueued(bytes: Buffer): Promise<void> {
    let decoded: ReturnType<typeof decodeFrame>
    let items: { seq: number; labels: SignedLabelItem[] } | undefined
    try {
      decoded = decodeFrame(bytes)
      if (decoded.kind === 'message' && decoded.type === '#labels') items = signedLabelsMessage(decoded.body)
    } catch (err) {
      this.countFrame('undecodable')
      this.decodeError('frame', err, undefined, bytes.length)
      return
    }
    if (decoded.kind === 'error') {
      this.countFrame('error')
      this.ctx.metrics.errorFrames.inc({ host: this.name, error: errorLabel(decoded.error) })
      if (decoded.error === 'FutureCursor') {
        this.log.error({ message: decoded.message, cursor: this.resumeSeq }, 'FutureCursor: cursor ahead of the labeler; restarting from 0')
        this.resumeSeq = 0
      } else {
        this.log.error({ error: decoded.error, message: decoded.message }, 'error frame; reconnecting')
      }
      this.sub.reconnect(decoded.error)
      return
    }
    this.countFrame(typeLabel(decoded.type))
    if (items !== undefined) return this.writeLabels(items.seq, items.labels)
    let res: ReturnType<typeof labelsMessageToResult>
    try {
      res = labelsMessageToResult(decoded.type, decoded.body)
    } catch (err) {
      this.decodeError('frame', err, undefined, bytes.length)
      return
    }
    if (res.kind === 'info') {
      this.ctx.metrics.infoMessages.inc({ host: this.name, name: errorLabel(res.name) })
      this.log.warn({ name: res.name, message: res.message }, '#info message from labeler')
    } else if (res.kind === 'unknown' && res.seq !== undefined) {
      this.handled(res.seq)
    }
  }

  private async writeLabels(seq: number, labels: SignedLabelItem[]): Promise<void> {
    const { config, producer, metrics } = this.ctx
    if (labels.length > config.maxLabelsPerFrame) {
      this.decodeError('too-many-labels', new Error(`${labels.length} labels in one frame (at most ${config.maxLabelsPerFrame})`), seq)
      this.handled(seq)
      return
    }
    const labelStreams = allShards(config.labelStream, config.streamShards)
    const refused = new Map<LabelRefusal, { count: number; example: Label }>()
    for (let i = 0; i < labels.length; i++) {
      if (i > 0 && i % CHUNK === 0) {
        // expand with backpressure: let I/O in, and wait while the producer is full
        await sleep(0, this.stopped.signal)
        while (producer.isFull(labelStreams) && !this.stopped.signal.aborted)
          await Promise.race([producer.waitUntilWritable(labelStreams), sleep(1000, this.stopped.signal)])
      }
      if (this.stopped.signal.aborted) return // not handled: replayed from the cursor next time
      const item = labels[i] as SignedLabelItem
      const refusal = await this.checkWithRetry(item)
      if (refusal === null) return
      if (refusal !== undefined) {
        metrics.labelsRefused.inc({ host: this.name, reason: refusal })
        const r = refused.get(refusal)
        if (r) r.count++
        else refused.set(refusal, { count: 1, example: item.label })
        continue
      }
      // sharded as the indexer reads it (label_live:{n} when STREAM_SHARDS > 1)
      const stream = streamForLabel(config.labelStream, item.label.uri, config.streamShards)
      this.checkpoint.track(stream, producer.add(stream, ['event', encodeLabelEvent({ type: 'label', label: item.label as Label, seq })]))
      this.lastTime = item.label.cts
    }
    for (const [reason, { count, example }] of refused) {
      this.log.warn(
        {
          seq,
          reason,
          count,
          src: example.src.slice(0, 200),
          uri: example.uri.slice(0, 300),
          val: example.val.slice(0, 64),
          cts: example.cts.slice(0, 64),
          expectedSrc: this.did,
        },
        'labels refused',
      )
    }
    this.handled(seq)
  }

  /** The verdict; waits (with backoff) while the labeler's key cannot be had. null: closing. */
  private async checkWithRetry(item: SignedLabelItem): Promise<LabelRefusal | undefined | null> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.verifier.check(item)
      } catch (err) {
        if (!(err instanceof KeyUnavailableError)) throw err
        this.ctx.metrics.labelKeyErrors.inc({ host: this.name })
        const delayMs = backoffDelay(attempt, this.ctx.config.reconnectInitialMs, this.ctx.config.reconnectMaxMs)
        this.log.error({ err: err.message, delayMs }, "labeler's #atproto_label key unavailable: its labels wait")
        await sleep(delayMs, this.stopped.signal).catch(() => {})
        if (this.stopped.signal.aborted) return null
      }
    }
  }
}
