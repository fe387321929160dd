/**
 * An amplifying repo: a valid, signed CAR whose tree has many leaves pointing at one large record
 * block. The CAR holds the block once, so it stays small, but every leaf is a record whose JSON
 * repeats the whole block: `leaves × recordBytes` of output from a CAR of about
 * `recordBytes + leaves × 45` bytes.
 */
import { buildSignedRepo, tidFromMicros, type SignedRepo } from '@firehose/atproto/testing'

export interface AmplifyingRepoOptions {
  did: string
  /** tree leaves, all pointing at the same record */
  leaves: number
  /** size of the shared record's text */
  recordBytes: number
}

export async function buildAmplifyingRepo(o: AmplifyingRepoOptions): Promise<SignedRepo> {
  const record = { $type: 'app.bsky.feed.post', text: 'x'.repeat(o.recordBytes), createdAt: '2024-01-01T00:00:00.000Z' }
  const base = Date.UTC(2024, 0, 1) * 1000
  const records = Array.from({ length: o.leaves }, (_, i) => ({
    collection: 'app.bsky.feed.post',
    rkey: tidFromMicros(base + i * 1000, 1),
    record,
  }))
  return buildSignedRepo({ did: o.did, records })
}
