import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

// A public key (did:key, secp256k1), only for the DID documents to be well formed.
const KEY = 'zQ3shNxoUTb8sMk11VCr7aiJx5RPkC8fPp1hL3MQdkdWmpQGd'

/**
 * An identity host on 127.0.0.1 that can be made slow: it answers as a PLC directory
 * (`GET /<did>`: a DID document claiming a handle) and as a handle resolver
 * (`GET /.well-known/atproto-did` with `Host: <handle>`), and holds the answers for the DIDs and
 * handles marked slow until they are released (or forever). A hostile peer for the tests of
 * identity resolution: one slow host must cost one handle, not the stream.
 */
export interface IdentityHost {
  /** `http://127.0.0.1:<port>` (use as PLC_URL and HANDLE_RESOLVER_URL). */
  url: string
  /** The DID document of `did` claims `handle`. */
  setDid(did: string, handle: string): void
  /** `handle` resolves to `did` (or to nothing). */
  setHandle(handle: string, did: string | undefined): void
  /** Hold the answers for this DID or handle until `release` (requests wait, connections open). */
  hold(didOrHandle: string): void
  /** Answer every held request for it, and the later ones at once. */
  release(didOrHandle: string): void
  /** Requests received so far for a DID or handle. */
  requests(didOrHandle: string): number
  close(): Promise<void>
}

export async function startIdentityHost(): Promise<IdentityHost> {
  const docs = new Map<string, string>()
  const handles = new Map<string, string>()
  const held = new Map<string, (() => void)[]>()
  const counts = new Map<string, number>()
  const sockets = new Set<import('node:net').Socket>()

  const answer = (key: string, send: () => void): void => {
    counts.set(key, (counts.get(key) ?? 0) + 1)
    const waiting = held.get(key)
    if (waiting) waiting.push(send)
    else send()
  }
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/.well-known/atproto-did') {
      const host = (req.headers.host ?? '').toLowerCase()
      return answer(host, () => {
        const did = handles.get(host)
        res.writeHead(did ? 200 : 404).end(did ?? 'not found')
      })
    }
    const did = decodeURIComponent((req.url ?? '/').slice(1))
    answer(did, () => {
      const handle = docs.get(did)
      if (handle === undefined) return void res.writeHead(404).end('{}')
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          '@context': ['https://www.w3.org/ns/did/v1'],
          id: did,
          alsoKnownAs: [`at://${handle}`],
          verificationMethod: [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: KEY }],
          service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'http://127.0.0.1:1' }],
        }),
      )
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    setDid: (did, handle) => void docs.set(did, handle),
    setHandle: (handle, did) => void (did === undefined ? handles.delete(handle) : handles.set(handle, did)),
    hold: (key) => void (held.has(key) || held.set(key, [])),
    release(key) {
      const waiting = held.get(key) ?? []
      held.delete(key)
      for (const send of waiting) send()
    },
    requests: (key) => counts.get(key) ?? 0,
    close() {
      for (const s of sockets) s.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
