/**
 * A canary: a server on a loopback address outside ALLOW_PRIVATE_NETWORKS (127.0.0.2 by default)
 * that counts every TCP connection it receives. A peer policy that works leaves it at zero.
 */
import { createServer, type Server } from 'node:net'

export interface Canary {
  url: string
  host: string
  port: number
  /** TCP connections received so far */
  connections(): number
  close(): Promise<void>
}

export async function startCanary(host = '127.0.0.2'): Promise<Canary> {
  let count = 0
  const server: Server = createServer((socket) => {
    count++
    socket.end('HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecret')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, resolve)
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    url: `http://${host}:${port}`,
    host,
    port,
    connections: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
