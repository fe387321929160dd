/**
 * A hostile relay: `com.atproto.sync.subscribeRepos` on loopback serving whatever frames a test
 * gives it (commits with `/` inside rkeys, invalid DIDs and NSIDs, oversized commits…), replayed
 * after the connection's cursor as a real relay does. The frames are built by the test (e.g. with
 * `@firehose/atproto`'s testing helpers), so that this fixture stays a plain server.
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'

export interface RelayFrame {
  /** the frame's seq (0 for frames without one: they are sent only on a connection from no cursor) */
  seq: number
  bytes: Uint8Array
}

export interface RelayConnection {
  path: string
  cursor: number | undefined
}

export class HostileRelay {
  readonly connections: RelayConnection[] = []
  private readonly sockets = new Set<WebSocket>()
  private constructor(
    private readonly wss: WebSocketServer,
    private readonly frames: RelayFrame[],
  ) {}

  static async start(frames: RelayFrame[], host = '127.0.0.1'): Promise<HostileRelay> {
    const wss = new WebSocketServer({ host, port: 0, perMessageDeflate: false })
    await once(wss, 'listening')
    const relay = new HostileRelay(wss, frames)
    wss.on('connection', (socket, req) => {
      const url = new URL(req.url ?? '/', 'http://x')
      const c = url.searchParams.get('cursor')
      const cursor = c === null ? undefined : Number(c)
      relay.connections.push({ path: url.pathname, cursor })
      socket.on('error', () => {})
      if (url.pathname !== '/xrpc/com.atproto.sync.subscribeRepos') {
        socket.close(1008, 'unknown method')
        return
      }
      relay.sockets.add(socket)
      socket.on('close', () => relay.sockets.delete(socket))
      for (const f of frames) if (cursor === undefined || f.seq > cursor) socket.send(f.bytes)
    })
    return relay
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`
  }

  /** Host as the ingester names it in metrics and cursor keys. */
  get host(): string {
    return this.url.replace('ws://', '')
  }

  /** Send a frame to every connected client (and replay it to later ones). */
  send(frame: RelayFrame): void {
    this.frames.push(frame)
    for (const s of this.sockets) s.send(frame.bytes)
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.terminate()
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
  }
}
