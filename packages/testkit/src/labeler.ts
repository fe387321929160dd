import { once } from 'node:events'
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
 * replay from a cursor, as Ozone serves them.
 */
export class LocalLabeler {
  readonly labels: { seq: number; label: SignedLabel }[] = []
  private readonly sockets = new Set<WebSocket>()
  private constructor(
    private readonly wss: WebSocketServer,
    readonly keypair: Secp256k1Keypair,
    readonly did: string,
  ) {}

  static async start(did = 'did:plc:locallabeler'): Promise<LocalLabeler> {
    const keypair = await Secp256k1Keypair.create()
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await once(wss, 'listening')
    const labeler = new LocalLabeler(wss, keypair, did)
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
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`
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
