/**
 * A loopback HTTP server playing both PLC directory (`GET /<did>` → DID document) and PDS
 * (`getRepo`), with a script of misbehaviours per DID: 429s with or without headers, 500s,
 * hanging requests, reset connections, slow bodies. Used by the tests and the bench.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type Step =
  /** `headers` may be computed when the request arrives (e.g. a RateLimit-Reset time) */
  | { kind: 'status'; status: number; headers?: Record<string, string> | (() => Record<string, string>); body?: string }
  | { kind: 'hang' }
  | { kind: 'reset' }
  /** send half the body, then destroy the socket */
  | { kind: 'truncate' }

export interface FakeRepo {
  did: string
  signingKey: string
  car: Uint8Array
  /** served before the CAR, one per request */
  script?: Step[]
  /** delay between 64 KiB body chunks */
  chunkDelayMs?: number
  /** DID document without a PDS service */
  noPds?: boolean
}

export interface FakeNetwork {
  url: string
  repos: Map<string, FakeRepo>
  /** getRepo requests per DID, with their arrival time */
  requests: Map<string, number[]>
  add(repo: FakeRepo): void
  close(): Promise<void>
}

export function didDocument(did: string, signingKey: string, pds: string | undefined): object {
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    id: did,
    alsoKnownAs: [`at://${did.slice(8)}.test`],
    verificationMethod: [
      { id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: signingKey.replace(/^did:key:/, '') },
    ],
    service: pds ? [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pds }] : [],
  }
}

export async function startFakeNetwork(): Promise<FakeNetwork> {
  const repos = new Map<string, FakeRepo>()
  const requests = new Map<string, number[]>()
  const sockets = new Set<Socket>()
  let url = ''
  const server = createServer((req, res) => void handle(req, res))
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', url)
    if (u.pathname === '/xrpc/com.atproto.sync.getRepo') {
      const did = u.searchParams.get('did') ?? ''
      const repo = repos.get(did)
      const log = requests.get(did) ?? []
      log.push(Date.now())
      requests.set(did, log)
      if (!repo) return json(res, 400, { error: 'RepoNotFound', message: `Could not find repo for DID: ${did}` })
      const step = repo.script?.shift()
      if (step?.kind === 'status') {
        res.writeHead(step.status, {
          'content-type': 'application/json',
          ...(typeof step.headers === 'function' ? step.headers() : step.headers),
        })
        res.end(step.body ?? JSON.stringify({ error: 'Error', message: `scripted ${step.status}` }))
        return
      }
      if (step?.kind === 'hang') return // never answers: the client's timeout must fire
      if (step?.kind === 'reset') {
        req.socket.destroy()
        return
      }
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' })
      const end = step?.kind === 'truncate' ? Math.floor(repo.car.length / 2) : repo.car.length
      for (let at = 0; at < end; at += 65536) {
        const chunk = repo.car.subarray(at, Math.min(end, at + 65536))
        if (!res.write(chunk)) await new Promise((r) => res.once('drain', r))
        if (repo.chunkDelayMs) await new Promise((r) => setTimeout(r, repo.chunkDelayMs))
        if (res.destroyed) return
      }
      if (step?.kind === 'truncate') {
        req.socket.destroy()
        return
      }
      res.end()
      return
    }
    const did = decodeURIComponent(u.pathname.slice(1))
    const repo = repos.get(did)
    if (!repo) return json(res, 404, { message: 'DID not registered' })
    return json(res, 200, didDocument(did, repo.signingKey, repo.noPds ? undefined : url))
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    repos,
    requests,
    add: (repo) => void repos.set(repo.did, repo),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}
