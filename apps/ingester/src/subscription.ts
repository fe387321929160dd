/**
 * One websocket subscription to an XRPC event stream (`subscribeRepos`, `subscribeLabels`) that
 * never gives up: it reconnects forever with exponential backoff and jitter, resuming from the
 * cursor its owner reports at each connect. A socket that brings neither a frame nor a pong for
 * `stallTimeoutMs` is terminated and reconnected. `pause()` stops reading the socket (TCP
 * backpressure reaches the server, whose own buffer and our cursor absorb the pause).
 */
import WebSocket from 'ws'
import { backoffDelay, sleep, type Logger } from '@firehose/service'

export interface SubscriptionOptions {
  /** Websocket base URL of the host, e.g. `wss://bsky.network`. */
  host: string
  /** XRPC method, e.g. `com.atproto.sync.subscribeRepos`. */
  nsid: string
  /** Cursor to resume from at each (re)connect; undefined = live. */
  cursor: () => number | undefined
  /** Called synchronously for every binary message, in order. */
  onFrame: (bytes: Buffer) => void
  stallTimeoutMs: number
  /**
   * Largest websocket message accepted. A longer one is not read: `ws` closes the connection
   * (1009) as soon as the frame header announces it, `onOversized` is called, and the loop
   * reconnects from the owner's cursor.
   */
  maxFrameBytes: number
  onOversized?: () => void
  reconnectInitialMs: number
  reconnectMaxMs: number
  logger: Logger
  onConnected?: (connected: boolean) => void
  onReconnect?: () => void
}

export class Subscription {
  private ws: WebSocket | null = null
  private closed = false
  private paused = false
  private pausedAt = 0
  private lastActivity = Date.now()
  private readonly abort = new AbortController()
  private loop: Promise<void> | null = null
  private closing: Promise<void> | null = null
  private pausedMs = 0
  connected = false

  constructor(private readonly opts: SubscriptionOptions) {}

  start(): void {
    this.loop ??= this.run()
  }

  /** Stop reading the socket until `resume()`. */
  pause(): void {
    if (this.paused) return
    this.paused = true
    this.pausedAt = Date.now()
    this.ws?.pause()
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    this.pausedMs += Date.now() - this.pausedAt
    // the time spent paused is not a stall of the server
    this.lastActivity = Date.now()
    this.ws?.resume()
  }

  /** Milliseconds spent paused since the last call (including a pause still going on). */
  takePausedMs(): number {
    const now = Date.now()
    let ms = this.pausedMs
    if (this.paused) {
      ms += now - this.pausedAt
      this.pausedAt = now
    }
    this.pausedMs = 0
    return ms
  }

  isPaused(): boolean {
    return this.paused
  }

  /** Drop the current connection; the loop reconnects (after its backoff). */
  reconnect(reason: string): void {
    if (this.ws) {
      this.opts.logger.info({ reason }, 'closing the connection to reconnect')
      this.ws.terminate()
    }
  }

  /** Close the socket and stop reconnecting. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true
      this.abort.abort()
      this.ws?.terminate()
      await this.loop
    })()
    return this.closing
  }

  url(): string {
    const cursor = this.opts.cursor()
    const base = `${this.opts.host}/xrpc/${this.opts.nsid}`
    return cursor === undefined ? base : `${base}?cursor=${cursor}`
  }

  private async run(): Promise<void> {
    let attempt = 0
    while (!this.closed) {
      const gotFrames = await this.connectOnce()
      if (this.closed) break
      attempt = gotFrames ? 1 : attempt + 1
      this.opts.onReconnect?.()
      const delay = backoffDelay(attempt - 1, this.opts.reconnectInitialMs, this.opts.reconnectMaxMs)
      this.opts.logger.info({ delayMs: delay, attempt }, 'reconnecting after backoff')
      await sleep(delay, this.abort.signal)
    }
  }

  /** One connection, from open to close. Resolves true if any frame arrived. */
  private connectOnce(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const url = this.url()
      const log = this.opts.logger
      let gotFrames = false
      let ws: WebSocket
      try {
        ws = new WebSocket(url, {
          perMessageDeflate: false,
          handshakeTimeout: this.opts.stallTimeoutMs,
          maxPayload: this.opts.maxFrameBytes,
        })
      } catch (err) {
        log.error({ err, url }, 'cannot open websocket')
        resolve(false)
        return
      }
      this.ws = ws
      this.lastActivity = Date.now()
      const tick = Math.max(50, Math.floor(this.opts.stallTimeoutMs / 4))
      const timer = setInterval(() => {
        if (this.paused || ws.readyState !== WebSocket.OPEN) return
        if (Date.now() - this.lastActivity > this.opts.stallTimeoutMs) {
          log.warn({ stallTimeoutMs: this.opts.stallTimeoutMs }, 'socket stalled (no frame, no pong): reconnecting')
          ws.terminate()
          return
        }
        ws.ping()
      }, tick)
      ws.on('open', () => {
        log.info({ url }, 'connected')
        this.connected = true
        this.opts.onConnected?.(true)
        if (this.paused) ws.pause()
      })
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        this.lastActivity = Date.now()
        gotFrames = true
        if (!isBinary) {
          log.warn({ length: data.length }, 'ignoring a text message')
          return
        }
        this.opts.onFrame(data)
      })
      ws.on('pong', () => {
        this.lastActivity = Date.now()
      })
      ws.on('error', (err) => {
        if ((err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
          log.error(
            { maxFrameBytes: this.opts.maxFrameBytes, cursor: this.opts.cursor() },
            'frame larger than the limit refused; reconnecting from the cursor',
          )
          this.opts.onOversized?.()
          return
        }
        log.warn({ err: err.message, url }, 'websocket error')
      })
      ws.on('close', (code, reason) => {
        clearInterval(timer)
        if (this.ws === ws) this.ws = null
        if (this.connected) {
          this.connected = false
          this.opts.onConnected?.(false)
        }
        if (!this.closed) log.warn({ code, reason: reason.toString() }, 'websocket closed')
        resolve(gotFrames)
      })
    })
  }
}
