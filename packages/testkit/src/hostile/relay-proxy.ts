/**
 * A hostile relay: a real websocket server on 127.0.0.1 that serves
 * `com.atproto.sync.subscribeRepos` by subscribing to an upstream host (a PDS) with the same
 * cursor and passing every frame through `tamper`, which may pass it, drop it (return null) or
 * replace it (return other bytes). Frames are numbered per connection in arrival order. Used to
 * test that an ingester never writes altered commits and heals the gaps dropped ones leave.
 * Other GET requests (listRepos, getRepo) are forwarded upstream as they are.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket, { WebSocketServer } from 'ws'

export type FrameTamper = (frame: Buffer) => Uint8Array | null

export interface RelayProxyOptions {
  /** upstream websocket base URL, e.g. `ws://localhost:2583` */
  upstream: string
  /** default: every frame passed as is */
  tamper?: FrameTamper
}

export class RelayProxy {
  /** frames received from upstream, dropped, and replaced */
  readonly counts = { frames: 0, dropped: 0, replaced: 0 }
  tamper: FrameTamper

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    readonly url: string,
  ) {
    this.tamper = (f) => f
  }

  static async start(opts: RelayProxyOptions): Promise<RelayProxy> {
    // plain XRPC GETs (listRepos, getRepo) are passed through unaltered
    const httpBase = opts.upstream.replace(/^ws(s?):/, 'http$1:')
    const server = createServer((req, res) => {
      if (req.method !== 'GET') {
        res.writeHead(405).end()
        return
      }
      fetch(`${httpBase}${req.url ?? '/'}`)
        .then(async (up) => {
          const body = Buffer.from(await up.arrayBuffer())
          res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/octet-stream' }).end(body)
        })
        .catch(() => res.writeHead(502).end())
    })
    const wss = new WebSocketServer({ noServer: true })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const proxy = new RelayProxy(server, wss, `ws://127.0.0.1:${port}`)
    if (opts.tamper) proxy.tamper = opts.tamper
    server.on('upgrade', (req, socket, head) => {
      const path = req.url ?? '/'
      if (!path.startsWith('/xrpc/com.atproto.sync.subscribeRepos')) {
        socket.destroy()
        return
      }
      wss.handleUpgrade(req, socket, head, (client) => proxy.relay(client, `${opts.upstream}${path}`))
    })
    return proxy
  }

  private relay(client: WebSocket, upstreamUrl: string): void {
    const up = new WebSocket(upstreamUrl, { perMessageDeflate: false })
    up.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || client.readyState !== WebSocket.OPEN) return
      this.counts.frames++
      const out = this.tamper(data)
      if (out === null) {
        this.counts.dropped++
        return
      }
      if (out !== data) this.counts.replaced++
      client.send(out)
    })
    const closeBoth = () => {
      up.terminate()
      client.terminate()
    }
    up.on('close', closeBoth)
    up.on('error', closeBoth)
    client.on('close', closeBoth)
    client.on('error', closeBoth)
  }

  /** Drop every connection (the subscriber reconnects with its cursor). */
  disconnectAll(): void {
    for (const c of this.wss.clients) c.terminate()
  }

  async close(): Promise<void> {
    this.disconnectAll()
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
