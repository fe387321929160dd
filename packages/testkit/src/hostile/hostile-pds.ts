/**
 * A hostile peer on 127.0.0.1 playing PLC directory (`GET /<did>`), PDS (`getRepo`) and did:web
 * host (`/.well-known/did.json`), with one misbehaviour per DID:
 * - `serve`: an ordinary repo (the innocent jobs next to the hostile ones)
 * - `points-elsewhere`: the DID document's `#atproto_pds` is `pds` (e.g. a canary)
 * - `redirect`: getRepo answers 302 to `to`
 * - `rate-limit-forever`: getRepo always answers 429 with `Retry-After`
 * - `slow-body`: getRepo sends its headers, then one byte every `intervalMs`, never ending
 * and a did:web document (`didWeb`) of `didWebBytes` bytes, streamed without holding it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type HostileBehaviour =
  | { kind: 'serve'; car: Uint8Array }
  | { kind: 'points-elsewhere'; pds: string }
  | { kind: 'redirect'; to: string }
  | { kind: 'rate-limit-forever'; retryAfterSecs: number }
  | { kind: 'slow-body'; intervalMs: number }

export interface HostileRepo {
  did: string
  signingKey: string
  behaviour: HostileBehaviour
}

export interface HostilePds {
  url: string
  /** `did:web:localhost%3A<port>`: its did.json is `didWebBytes` long */
  didWeb: string
  /** getRepo requests per DID */
  requests: Map<string, number>
  /** bytes of the huge did.json actually sent */
  didWebBytesSent(): number
  add(repo: HostileRepo): void
  close(): Promise<void>
}

export function hostileDidDocument(did: string, signingKey: string, pds: string): object {
  return {
    '@context': ['https://www.w3.org/ns/did/v1'],
    id: did,
    alsoKnownAs: [`at://${did.slice(8)}.test`],
    verificationMethod: [
      { id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: signingKey.replace(/^did:key:/, '') },
    ],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pds }],
  }
}

export async function startHostilePds(o: { didWebBytes?: number } = {}): Promise<HostilePds> {
  const repos = new Map<string, HostileRepo>()
  const requests = new Map<string, number>()
  const sockets = new Set<Socket>()
  const didWebBytes = o.didWebBytes ?? 50 * 1024 * 1024
  let sent = 0
  let url = ''
  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()))
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', url)
    if (u.pathname === '/.well-known/did.json') return hugeDocument(res)
    if (u.pathname === '/xrpc/com.atproto.sync.getRepo') {
      const did = u.searchParams.get('did') ?? ''
      requests.set(did, (requests.get(did) ?? 0) + 1)
      const b = repos.get(did)?.behaviour
      if (!b) return json(res, 400, { error: 'RepoNotFound', message: 'unknown' })
      if (b.kind === 'redirect') return void res.writeHead(302, { location: b.to }).end()
      if (b.kind === 'rate-limit-forever')
        return json(res, 429, { error: 'RateLimitExceeded', message: 'slow down' }, { 'retry-after': String(b.retryAfterSecs) })
      if (b.kind === 'slow-body') return slowBody(res, b.intervalMs)
      if (b.kind === 'serve') return void res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(b.car)
      return json(res, 500, { error: 'InternalServerError', message: 'no repo here' })
    }
    const did = decodeURIComponent(u.pathname.slice(1))
    const repo = repos.get(did)
    if (!repo) return json(res, 404, { message: 'DID not registered' })
    const pds = repo.behaviour.kind === 'points-elsewhere' ? repo.behaviour.pds : url
    return json(res, 200, hostileDidDocument(did, repo.signingKey, pds))
  }

  /** `{"id":"…","pad":"xxxx…` for `didWebBytes` bytes, in 64 KiB writes honouring backpressure. */
  async function hugeDocument(res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'content-type': 'application/json' })
    const head = Buffer.from(`{"id":"did:web:localhost%3A${new URL(url).port}","pad":"`)
    res.write(head)
    sent += head.length
    const chunk = Buffer.alloc(64 * 1024, 0x78)
    while (sent < didWebBytes && !res.destroyed) {
      sent += chunk.length
      if (!res.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done)
            res.off('close', done)
            resolve()
          }
          res.on('drain', done)
          res.on('close', done)
        })
      }
    }
    if (!res.destroyed) res.end('"}')
  }

  async function slowBody(res: ServerResponse, intervalMs: number): Promise<void> {
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' })
    while (!res.destroyed) {
      res.write(Buffer.from([0x0a]))
      await new Promise((r) => setTimeout(r, intervalMs))
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  url = `http://127.0.0.1:${port}`
  return {
    url,
    didWeb: `did:web:localhost%3A${port}`,
    requests,
    didWebBytesSent: () => sent,
    add: (repo) => void repos.set(repo.did, repo),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}
