import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Secp256k1Keypair } from '@atproto/crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { WebSocketServer, type WebSocket } from 'ws'

export interface SignedLabel {
  ver: 1
  src: string
  uri: string
  cid?: string
  val: string
  neg?: boolean
  cts: string
  sig: Uint8Array
}

/**
 * A labeler's `com.atproto.label.subscribeLabels` on loopback: labels signed by a real
 * secp256k1 key (sig over the DAG-CBOR of the unsigned label), `#labels` frames with seq, and
 * replay from a cursor, as Ozone serves them. Its DID is a did:web of its own port
 * (`did:web:localhost%3A<port>`), whose document (`/.well-known/did.json`, same port) names the
 * key as `#atproto_label`: an ingester verifies its labels without any PLC.
 */
export class LocalLabeler {
  readonly labels: { seq: number; label: SignedLabel }[] = []
  private readonly sockets = new Set<WebSocket>()
  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    readonly keypair: Secp256k1Keypair,
    readonly did: string,
  ) {}

  static async start(): Promise<LocalLabeler> {
    const keypair = await Secp256k1Keypair.create()
    const http = createServer()
    const wss = new WebSocketServer({ server: http })
    http.listen(0, '127.0.0.1')
    await once(http, 'listening')
    const port = (http.address() as AddressInfo).port
    const did = `did:web:localhost%3A${port}`
    const labeler = new LocalLabeler(http, wss, keypair, did)
    http.on('request', (req, res) => {
      if ((req.url ?? '/').split('?')[0] !== '/.well-known/did.json') return void res.writeHead(404).end()
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
          id: did,
          verificationMethod: [
            { id: `${did}#atproto_label`, type: 'Multikey', controller: did, publicKeyMultibase: keypair.did().replace('did:key:', '') },
          ],
          service: [{ id: '#atproto_labeler', type: 'AtprotoLabeler', serviceEndpoint: `http://localhost:${port}` }],
        }),
      )
    })
    wss.on('connection', (socket, req) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname !== '/xrpc/com.atproto.label.subscribeLabels') {
        socket.close(1008, 'unknown method')
        return
      }
      const cursor = Number(url.searchParams.get('cursor') ?? 'NaN')
      if (Number.isFinite(cursor)) for (const l of labeler.labels) if (l.seq > cursor) socket.send(frame(l.seq, l.label))
      labeler.sockets.add(socket)
      socket.on('close', () => labeler.sockets.delete(socket))
    })
    return labeler
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.http.address() as AddressInfo).port}`
  }

  /** `INGESTER_LABELER_HOSTS` entry: `<did>@<url>`. */
  get hostEntry(): string {
    return `${this.did}@${this.url}`
  }

  /** Sign and publish a label (or its negation). */
  async emit(uri: string, val: string, opts: { neg?: boolean; cid?: string } = {}): Promise<SignedLabel> {
    const unsigned = {
      ver: 1 as const,
      src: this.did,
      uri,
      ...(opts.cid ? { cid: opts.cid } : {}),
      val,
      ...(opts.neg ? { neg: true } : {}),
      cts: new Date().toISOString(),
    }
    const sig = await this.keypair.sign(dagCbor.encode(unsigned))
    const label: SignedLabel = { ...unsigned, sig }
    const seq = this.labels.length + 1
    this.labels.push({ seq, label })
    const bytes = frame(seq, label)
    for (const s of this.sockets) s.send(bytes)
    return label
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.terminate()
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
    this.http.closeAllConnections()
    await new Promise<void>((resolve) => this.http.close(() => resolve()))
  }
}

function frame(seq: number, label: SignedLabel): Uint8Array {
  const header = dagCbor.encode({ op: 1, t: '#labels' })
  const body = dagCbor.encode({ seq, labels: [label] })
  const out = new Uint8Array(header.length + body.length)
  out.set(header, 0)
  out.set(body, header.length)
  return out
}
