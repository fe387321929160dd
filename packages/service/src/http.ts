import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import type { Logger } from './logger.js'

export interface HttpServerOptions {
  port: number
  /** Address to bind (`CommonConfig.metricsHost`); default 127.0.0.1. */
  host?: string
  registry: Registry
  /** Liveness: the main loop is alive (no dependency checks). */
  health?: () => boolean
  /** Readiness: dependencies answer. */
  ready?: () => Promise<boolean>
  logger?: Logger
}

export interface HttpServer {
  server: Server
  port: number
  close(): Promise<void>
}

/** `/metrics`, `/health` and `/ready` on one port. */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type })
      res.end(body)
    }
    if (path === '/metrics') {
      opts.registry
        .metrics()
        .then((m) => send(200, m, opts.registry.contentType))
        .catch((err: unknown) => send(500, String(err)))
    } else if (path === '/health' || path === '/healthz') {
      const ok = opts.health ? opts.health() : true
      send(ok ? 200 : 503, JSON.stringify({ status: ok ? 'ok' : 'stalled' }), 'application/json')
    } else if (path === '/ready' || path === '/readyz') {
      const check = opts.ready ? opts.ready() : Promise.resolve(true)
      withTimeout(check, 3000)
        .then((ok) => send(ok ? 200 : 503, JSON.stringify({ ready: ok }), 'application/json'))
        .catch(() => send(503, JSON.stringify({ ready: false }), 'application/json'))
    } else {
      send(404, 'not found')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  opts.logger?.info({ host: opts.host ?? '127.0.0.1', port }, 'metrics and health server listening')
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms)
    p.finally(() => clearTimeout(t)).then(resolve, reject)
  })
}
