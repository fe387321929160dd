/**
 * What every host subscription shares: the websocket (`Subscription`), the cursor (`Checkpoint`),
 * the resume seq, backpressure and the per-host metrics. Subclasses turn frames into entries.
 */
import type { Logger } from '@firehose/service'
import { CursorStore, cursorHost, type RedisClient, type StreamProducer } from '@firehose/streams'
import { Checkpoint } from './checkpoint.js'
import type { IngesterConfig } from './config.js'
import type { IngesterMetrics } from './metrics.js'
import { Subscription } from './subscription.js'
import type { PeerFetch } from '@firehose/atproto'
import type { SyncVerification } from './verify/live.js'

export interface HostContext {
  config: IngesterConfig
  redis: RedisClient
  producer: StreamProducer
  metrics: IngesterMetrics
  logger: Logger
  /** sync 1.1 verification of relays' commits; absent when INGESTER_VERIFY=none */
  sync?: SyncVerification
  /** DID documents (PLC, did:web) under the outgoing-request policy (peer-fetch.ts) */
  documentFetch?: PeerFetch
}

export abstract class HostStream {
  /** Host as it appears in cursor keys and metric labels. */
  readonly name: string
  protected readonly log: Logger
  protected readonly checkpoint: Checkpoint
  protected readonly sub: Subscription
  /** seq to resume from at the next connect (undefined = live). */
  protected resumeSeq: number | undefined
  /** `time` of the last event handled, for the lag gauge. */
  protected lastTime: string | undefined
  private readonly frameCounts = new Map<string, number>()
  private readonly cursors: CursorStore
  private tickTimer: NodeJS.Timeout | null = null

  constructor(
    protected readonly ctx: HostContext,
    /** Websocket base URL. */
    readonly host: string,
    nsid: string,
    cursorStream: string,
    kind: string,
  ) {
    this.name = cursorHost(host)
    this.log = ctx.logger.child({ host: this.name, kind })
    this.cursors = new CursorStore(ctx.redis, cursorStream)
    this.checkpoint = new Checkpoint({
      cursors: this.cursors,
      host: this.name,
      intervalMs: ctx.config.cursorIntervalMs,
      logger: this.log,
      onWritten: (seq, written) => {
        ctx.metrics.cursor.set({ host: this.name }, seq)
        for (const [stream, n] of written) ctx.metrics.eventsWritten.inc({ stream }, n)
      },
    })
    this.sub = new Subscription({
      host,
      nsid,
      cursor: () => this.resumeSeq,
      onFrame: (bytes) => {
        try {
          this.handleFrame(bytes)
        } catch (err) {
          // handleFrame counts what it understands; this is a bug, not a bad frame
          this.log.error({ err }, 'frame handler failed; frame skipped')
          ctx.metrics.decodeErrors.inc({ host: this.name, reason: 'handler' })
        }
      },
      stallTimeoutMs: ctx.config.stallTimeoutMs,
      maxFrameBytes: ctx.config.maxFrameBytes,
      onOversized: () => ctx.metrics.oversizedFrames.inc({ host: this.name }),
      reconnectInitialMs: ctx.config.reconnectInitialMs,
      reconnectMaxMs: ctx.config.reconnectMaxMs,
      logger: this.log,
      onConnected: (up) => ctx.metrics.connected.set({ host: this.name }, up ? 1 : 0),
      onReconnect: () => ctx.metrics.reconnects.inc({ host: this.name }),
    })
  }

  /** The cursor to start from when Redis has none (undefined = live). */
  protected abstract defaultCursor(): number | undefined
  /** Handle one binary message; must not throw for bad input (count and skip it). */
  protected abstract handleFrame(bytes: Buffer): void

  async start(): Promise<void> {
    const stored = await this.cursors.getNumber(this.name)
    this.resumeSeq = stored ?? this.defaultCursor()
    this.log.info({ cursor: this.resumeSeq ?? 'live' }, 'starting subscription')
    this.ctx.metrics.connected.set({ host: this.name }, 0)
    this.checkpoint.start()
    this.tickTimer = setInterval(() => this.flushMetrics(), 1000)
    this.sub.start()
  }

  get connected(): boolean {
    return this.sub.connected
  }

  pause(): void {
    this.sub.pause()
  }

  resume(): void {
    this.sub.resume()
  }

  /** Close the socket, then write the cursor of everything handled (once it is in Redis). */
  async close(): Promise<void> {
    await this.sub.close()
    if (this.tickTimer) clearInterval(this.tickTimer)
    this.flushMetrics()
  }

  /** After the producer flushed: the final cursor. */
  async closeCursor(): Promise<void> {
    await this.checkpoint.close()
  }

  protected countFrame(type: string): void {
    this.frameCounts.set(type, (this.frameCounts.get(type) ?? 0) + 1)
  }

  /** Everything of the frame with this seq has been handed to the producer. */
  protected handled(seq: number): void {
    this.resumeSeq = seq
    this.checkpoint.advance(seq)
  }

  protected decodeError(reason: string, err: unknown, seq?: number, size?: number): void {
    this.ctx.metrics.decodeErrors.inc({ host: this.name, reason })
    this.log.warn({ seq, size, reason, err: (err as Error)?.message ?? String(err) }, 'undecodable frame skipped')
  }

  private flushMetrics(): void {
    const m = this.ctx.metrics
    for (const [type, n] of this.frameCounts) m.frames.inc({ host: this.name, type }, n)
    this.frameCounts.clear()
    const seq = this.checkpoint.handledSeq
    if (seq !== undefined) m.lastSeq.set({ host: this.name }, seq)
    if (this.lastTime !== undefined) {
      const t = Date.parse(this.lastTime)
      if (Number.isFinite(t)) m.lagSeconds.set({ host: this.name }, Math.max(0, (Date.now() - t) / 1000))
    }
    const pausedMs = this.sub.takePausedMs()
    if (pausedMs > 0) m.socketPausedSeconds.inc({ host: this.name }, pausedMs / 1000)
  }
}
