/**
 * A hostile labeler on loopback, one port for both of its faces:
 * - `com.atproto.label.subscribeLabels` (websocket): `#labels` frames replayed after the cursor;
 * - a PLC directory of one DID (`GET /<did>` → its DID document, with the `#atproto_label` key),
 *   so that an ingester pointed at it (`PLC_URL`) resolves this labeler's key.
 * Beside honest labels it sends what an attacker can: a label whose `src` names another labeler,
 * one signed with a key that is not the DID's, one with a far-future `cts`, and frames past a
 * size limit.
 */
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Secp256k1Keypair } from '@atproto/crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { WebSocketServer, type WebSocket } from 'ws'
import type { SignedLabel } from '../labeler.js'

export interface LabelInput {
  uri: string
  val: string
  neg?: boolean
  /** default: now */
  cts?: string
  /** default: this labeler's DID */
  src?: string
}

export class HostileLabeler {
  /** frames in seq order (seq 0: no seq, sent once, to the first connection only) */
  readonly frames: { seq: number; bytes: Uint8Array }[] = []
  readonly connections: { cursor: number | undefined }[] = []
  private readonly sockets = new Set<WebSocket>()
  private seq = 0

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    readonly did: string,
    /** the key of the DID document's `#atproto_label` */
    readonly keypair: Secp256k1Keypair,
    /** a key the DID document does not name */
    readonly wrongKeypair: Secp256k1Keypair,
  ) {}

  static async start(did = 'did:plc:hostilelabelerxxxxxxxxxx'): Promise<HostileLabeler> {
    const keypair = await Secp256k1Keypair.create()
    const wrongKeypair = await Secp256k1Keypair.create()
    const http = createServer()
    const wss = new WebSocketServer({ server: http, perMessageDeflate: false })
    const labeler = new HostileLabeler(http, wss, did, keypair, wrongKeypair)
    http.on('request', (req, res) => {
      const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/')
      if (path === `/${did}`) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify(labeler.didDocument()))
      } else {
        res.writeHead(404).end()
      }
    })
    wss.on('connection', (socket, req) => {
      const url = new URL(req.url ?? '/', 'http://x')
      const c = url.searchParams.get('cursor')
      const cursor = c === null ? undefined : Number(c)
      const first = labeler.connections.length === 0
      labeler.connections.push({ cursor })
      socket.on('error', () => {})
      if (url.pathname !== '/xrpc/com.atproto.label.subscribeLabels') {
        socket.close(1008, 'unknown method')
        return
      }
      labeler.sockets.add(socket)
      socket.on('close', () => labeler.sockets.delete(socket))
      for (const f of labeler.frames) if ((f.seq === 0 && first) || (f.seq > 0 && f.seq > (cursor ?? 0))) socket.send(f.bytes)
    })
    http.listen(0, '127.0.0.1')
    await once(http, 'listening')
    return labeler
  }

  private get port(): number {
    return (this.http.address() as AddressInfo).port
  }
  get url(): string {
    return `ws://127.0.0.1:${this.port}`
  }
  /** PLC_URL for an ingester that should resolve this labeler's DID here. */
  get plcUrl(): string {
    return `http://127.0.0.1:${this.port}`
  }
  /** Host as the ingester names it in metrics and cursor keys. */
  get host(): string {
    return `127.0.0.1:${this.port}`
  }

  didDocument(): Record<string, unknown> {
    return {
      '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
      id: this.did,
      alsoKnownAs: [],
      verificationMethod: [
        {
          id: `${this.did}#atproto_label`,
          type: 'Multikey',
          controller: this.did,
          publicKeyMultibase: this.keypair.did().replace('did:key:', ''),
        },
      ],
      service: [{ id: '#atproto_labeler', type: 'AtprotoLabeler', serviceEndpoint: this.plcUrl }],
    }
  }

  /** A label signed by `key` (default: the DID's label key). */
  async sign(input: LabelInput, key: Secp256k1Keypair = this.keypair): Promise<SignedLabel> {
    const unsigned = {
      ver: 1 as const,
      src: input.src ?? this.did,
      uri: input.uri,
      val: input.val,
      ...(input.neg ? { neg: true } : {}),
      cts: input.cts ?? new Date().toISOString(),
    }
    return { ...unsigned, sig: await key.sign(dagCbor.encode(unsigned)) }
  }

  /** One `#labels` frame with the next seq. */
  sendLabels(labels: SignedLabel[]): number {
    const seq = ++this.seq
    this.push(seq, frame({ seq, labels }))
    return seq
  }

  /** A frame of `bytes` bytes (a `#labels` frame padded with an unknown field), without a seq of its own: sent once. */
  sendOversized(bytes: number): void {
    this.push(0, frame({ seq: this.seq, labels: [], padding: new Uint8Array(bytes) }))
  }

  private push(seq: number, bytes: Uint8Array): void {
    this.frames.push({ seq, bytes })
    for (const s of this.sockets) s.send(bytes)
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.terminate()
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
    this.http.closeAllConnections()
    await new Promise<void>((resolve) => this.http.close(() => resolve()))
  }
}

function frame(body: Record<string, unknown>): Uint8Array {
  const header = dagCbor.encode({ op: 1, t: '#labels' })
  const encoded = dagCbor.encode(body)
  const out = new Uint8Array(header.length + encoded.length)
  out.set(header, 0)
  out.set(encoded, header.length)
  return out
}

/** The key type the hostile fixtures sign with (re-exported for tests of packages that do not depend on @atproto/crypto). */
export { Secp256k1Keypair } from '@atproto/crypto'
