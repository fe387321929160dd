import { crc32, deflateSync } from 'node:zlib'
import type { SeedClient } from '@firehose/testkit'

type Did = `did:${string}:${string}`
export interface Ref {
  uri: string
  cid: string
}
export type LexObject = { [key: string]: unknown }

/** A tiny valid PNG (2×2 RGB), different bytes (so a different blob) per `n`. */
function png(n: number): Uint8Array {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(crc32(body))
    return Buffer.concat([len, body, crc])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(2, 0)
  ihdr.writeUInt32BE(2, 4)
  ihdr.set([8, 2, 0, 0, 0], 8)
  const raw = Buffer.from([0, n & 255, 10, 20, 30, 40, 50, 0, 60, 70, 80, 90, (n >> 8) & 255, 100])
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

/** The start of an MP4 file (an `ftyp` box and a small `mdat`): sniffed as video/mp4. */
function mp4(n: number): Uint8Array {
  const ftyp = Buffer.concat([
    Buffer.from([0, 0, 0, 0x18]),
    Buffer.from('ftypisom', 'ascii'),
    Buffer.from([0, 0, 2, 0]),
    Buffer.from('isommp41', 'ascii'),
  ])
  const mdat = Buffer.concat([Buffer.from([0, 0, 0, 0x10]), Buffer.from('mdat', 'ascii'), Buffer.from([n & 255, 1, 2, 3, 4, 5, 6, 7])])
  return Buffer.concat([ftyp, mdat])
}

/** Record writes through the PDS's com.atproto.repo API, as an app does. */
export class Writer {
  private n = 0
  constructor(private readonly seed: SeedClient) {}
  private headers(did: string) {
    return this.seed.getHeaders(did as Did)
  }
  async create(did: string, collection: string, record: LexObject, rkey?: string): Promise<Ref> {
    const res = await this.seed.agent.com.atproto.repo.createRecord(
      { repo: did, collection, record: { $type: collection, ...record }, ...(rkey ? { rkey } : {}) },
      { headers: this.headers(did), encoding: 'application/json' },
    )
    return { uri: res.data.uri, cid: res.data.cid }
  }
  async put(did: string, collection: string, rkey: string, record: LexObject): Promise<Ref> {
    const res = await this.seed.agent.com.atproto.repo.putRecord(
      { repo: did, collection, rkey, record: { $type: collection, ...record } },
      { headers: this.headers(did), encoding: 'application/json' },
    )
    return { uri: res.data.uri, cid: res.data.cid }
  }
  async delete(did: string, uri: string): Promise<void> {
    const [, , repo, collection, rkey] = uri.split('/')
    await this.seed.agent.com.atproto.repo.deleteRecord(
      { repo: repo ?? did, collection: collection ?? '', rkey: rkey ?? '' },
      { headers: this.headers(did), encoding: 'application/json' },
    )
  }
  /** Upload bytes as a blob; returns the blob ref to put in a record. */
  async blob(did: string, kind: 'image' | 'video'): Promise<unknown> {
    const n = ++this.n
    const res = await this.seed.agent.com.atproto.repo.uploadBlob(kind === 'image' ? png(n) : mp4(n), {
      headers: this.headers(did),
      encoding: kind === 'image' ? 'image/png' : 'video/mp4',
    })
    return res.data.blob
  }
  post(did: string, text: string, extra: LexObject = {}): Promise<Ref> {
    return this.create(did, 'app.bsky.feed.post', { text, createdAt: new Date().toISOString(), ...extra })
  }
}
