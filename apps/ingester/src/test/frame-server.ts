/**
 * A local XRPC event-stream server for tests: a `ws` server on a loopback port that hands every
 * connection (with its `cursor` query parameter) to a handler, plus helpers to replay a list of
 * frames after a cursor, paced and respecting the socket's buffer.
 */
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'

export interface Connection {
  ws: WebSocket
  path: string
  cursor: number | undefined
}

export interface FrameServer {
  /** `ws://127.0.0.1:<port>` */
  url: string
  port: number
  connections: Connection[]
  close(): Promise<void>
}

export async function startFrameServer(handler: (conn: Connection) => void): Promise<FrameServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const port = (wss.address() as AddressInfo).port
  const connections: Connection[] = []
  wss.on('connection', (ws, req) => {
    const u = new URL(req.url ?? '/', 'http://x')
    const c = u.searchParams.get('cursor')
    const conn: Connection = { ws, path: u.pathname, cursor: c === null ? undefined : Number(c) }
    connections.push(conn)
    ws.on('error', () => {})
    handler(conn)
  })
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate()
        wss.close(() => resolve())
      }),
  }
}

export interface SeqFrame {
  seq: number
  bytes: Uint8Array
}

export interface ReplayOptions {
  /** frames sent per tick (default: as many as the socket buffer allows) */
  perTick?: number
  tickMs?: number
  /** stop sending while the socket holds more than this many bytes unsent */
  maxBuffered?: number
  /** called after the last frame was sent */
  onDone?: () => void
}

/** Sends the frames with seq > cursor (all when no cursor), in order. */
export function replayFrames(conn: Connection, frames: readonly SeqFrame[], opts: ReplayOptions = {}): void {
  const { ws, cursor } = conn
  let i = cursor === undefined ? 0 : frames.findIndex((f) => f.seq > cursor)
  if (i < 0) i = frames.length
  const perTick = opts.perTick ?? Number.POSITIVE_INFINITY
  const maxBuffered = opts.maxBuffered ?? 1 << 20
  const tick = () => {
    if (ws.readyState !== ws.OPEN) return
    let sent = 0
    while (i < frames.length && sent < perTick && ws.bufferedAmount < maxBuffered) {
      ws.send((frames[i] as SeqFrame).bytes)
      i++
      sent++
    }
    if (i >= frames.length) {
      opts.onDone?.()
      return
    }
    setTimeout(tick, opts.tickMs ?? (sent === 0 ? 5 : 0))
  }
  tick()
}
