import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import * as dagCbor from '@ipld/dag-cbor'
import { WebSocketServer, type WebSocket } from 'ws'

/** One `subscribeRepos` message frame: DAG-CBOR header `{op: 1, t}` then the body. */
export function messageFrame(type: string, body: Record<string, unknown>): Uint8Array {
  const header = dagCbor.encode({ op: 1, t: type })
  const payload = dagCbor.encode(body)
  const out = new Uint8Array(header.length + payload.length)
  out.set(header, 0)
  out.set(payload, header.length)
  return out
}

/**
 * A relay's `com.atproto.sync.subscribeRepos` on loopback that replays a fixed list of frames
 * (each with its seq) after the cursor it is asked for, as fast as the socket takes them
 * (it waits while more than `maxBuffered` bytes are unsent, so a paused reader pauses it).
 */
export class FrameRelay {
  private readonly sockets = new Set<WebSocket>()
  private constructor(
    private readonly wss: WebSocketServer,
    readonly frames: readonly { seq: number; bytes: Uint8Array }[],
    private readonly maxBuffered: number,
  ) {}

  static async start(frames: readonly { seq: number; bytes: Uint8Array }[], maxBuffered = 256 * 1024): Promise<FrameRelay> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
    await once(wss, 'listening')
    const relay = new FrameRelay(wss, frames, maxBuffered)
    wss.on('connection', (socket, req) => {
      socket.on('error', () => undefined)
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname !== '/xrpc/com.atproto.sync.subscribeRepos') {
        socket.close(1008, 'unknown method')
        return
      }
      relay.sockets.add(socket)
      socket.on('close', () => relay.sockets.delete(socket))
      const c = url.searchParams.get('cursor')
      relay.replay(socket, c === null ? undefined : Number(c))
    })
    return relay
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`
  }

  private replay(socket: WebSocket, cursor: number | undefined): void {
    let i = cursor === undefined ? 0 : this.frames.findIndex((f) => f.seq > cursor)
    if (i < 0) i = this.frames.length
    const tick = () => {
      if (socket.readyState !== socket.OPEN) return
      while (i < this.frames.length && socket.bufferedAmount < this.maxBuffered)
        socket.send((this.frames[i++] as { bytes: Uint8Array }).bytes)
      if (i < this.frames.length) setTimeout(tick, 5)
    }
    tick()
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.terminate()
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
  }
}
