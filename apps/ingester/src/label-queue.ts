/**
 * Frames of one labeler, handled one at a time and in order off the websocket's callback: a
 * label's verification is asynchronous, and a frame of many labels is expanded in chunks that
 * yield to the event loop and wait for the producer, instead of one synchronous loop. While more
 * than `maxQueued` frames wait, the socket is paused (TCP backpressure to the labeler).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises'

export interface FrameQueueOptions {
  maxQueued: number
  /** Handles one frame; a throw is the caller's bug, reported to `onError` and the frame skipped. */
  handle: (bytes: Buffer) => Promise<void>
  onError: (err: unknown) => void
  /** Called with true when the queue is full (pause the socket), false when it has room again. */
  onFull: (full: boolean) => void
}

export class FrameQueue {
  private readonly frames: Buffer[] = []
  private running: Promise<void> | null = null
  private full = false
  private stopped = false

  constructor(private readonly opts: FrameQueueOptions) {}

  push(bytes: Buffer): void {
    if (this.stopped) return
    this.frames.push(bytes)
    if (!this.full && this.frames.length >= this.opts.maxQueued) {
      this.full = true
      this.opts.onFull(true)
    }
    this.running ??= this.run()
  }

  /** Stop taking frames; resolves when the frame being handled is done (the rest are dropped: not handled, so not acked). */
  async stop(): Promise<void> {
    this.stopped = true
    this.frames.length = 0
    await this.running
  }

  get stopping(): boolean {
    return this.stopped
  }

  private async run(): Promise<void> {
    for (;;) {
      const bytes = this.frames.shift()
      if (bytes === undefined || this.stopped) break
      try {
        await this.opts.handle(bytes)
      } catch (err) {
        this.opts.onError(err)
      }
      if (this.full && this.frames.length < this.opts.maxQueued / 2) {
        this.full = false
        this.opts.onFull(false)
      }
      await yieldToLoop()
    }
    this.running = null
    if (this.full) {
      this.full = false
      this.opts.onFull(false)
    }
  }
}
