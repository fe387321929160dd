import { createConnection, createServer, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  host: string
  port: number
  /**
   * Black-hole every connection, open and new: bytes are swallowed both ways and nothing is
   * closed, as a network partition or a server that stopped answering looks to a client.
   */
  freeze(): void
  /**
   * Close every open connection and refuse new ones (each is closed as soon as it opens), as a
   * server that crashed and is restarting looks to a client, until `resume()`.
   */
  refuse(): void
  /** Forward new connections again after `refuse()`. */
  resume(): void
  close(): Promise<void>
}

/** A real TCP proxy on loopback to `target` (a local service), for tests of a peer that hangs. */
export async function startTcpProxy(target: { host: string; port: number }, host = '127.0.0.1'): Promise<TcpProxy> {
  if (!/^127\.|^::1$|^localhost$/.test(target.host)) throw new Error(`startTcpProxy: loopback targets only, got ${target.host}`)
  let frozen = false
  let refusing = false
  const sockets = new Set<Socket>()
  const track = (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => s.destroy())
  }
  const server: Server = createServer((client) => {
    track(client)
    if (refusing) {
      client.destroy()
      return
    }
    if (frozen) {
      client.on('data', () => {})
      return
    }
    const upstream = createConnection(target)
    track(upstream)
    client.on('data', (d) => {
      if (!frozen) upstream.write(d)
    })
    upstream.on('data', (d) => {
      if (!frozen) client.write(d)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('startTcpProxy: no port')
  return {
    host,
    port: address.port,
    freeze() {
      frozen = true
    },
    refuse() {
      refusing = true
      for (const s of sockets) s.destroy()
    },
    resume() {
      refusing = false
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
