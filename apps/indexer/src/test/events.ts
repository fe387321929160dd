import { createHash } from 'node:crypto'
import type { LexRecord, RecordDeleteEvent, RecordWriteEvent } from '@firehose/streams'

const B32 = 'abcdefghijklmnopqrstuvwxyz234567'
const TID_ALPHABET = '234567abcdefghijklmnopqrstuvwxyz'

function base32(bytes: Uint8Array): string {
  let bits = 0
  let value = 0
  let out = ''
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31]
  return out
}

/** A real CIDv1 (sha-256) string derived from a seed: dag-cbor, or another codec (raw: 0x55). */
export function cidFor(seed: string, codec = 0x71): string {
  const digest = createHash('sha256').update(seed).digest()
  return `b${base32(Uint8Array.from([0x01, codec, 0x12, 0x20, ...digest]))}`
}

/** A real CIDv1 (raw codec, sha-256) string, as blobs have. */
export const rawCidFor = (seed: string): string => cidFor(seed, 0x55)

/** A TID-shaped, fixed-width, string-sortable rev from a counter. */
export function tid(n: number): string {
  let s = ''
  let v = BigInt(n) + (1n << 50n)
  for (let i = 0; i < 13; i++) {
    s = TID_ALPHABET[Number(v % 32n)] + s
    v /= 32n
  }
  return s
}

export const did = (i: number): string => `did:plc:user${i}`
export const uriOf = (d: string, collection: string, rkey: string): string => `at://${d}/${collection}/${rkey}`

let seq = 0
export function writeEvent(
  d: string,
  collection: string,
  rkey: string,
  rev: string,
  record: LexRecord,
  type: 'create' | 'update' = 'create',
  time = '2026-01-01T00:00:00.000Z',
): RecordWriteEvent {
  return {
    type,
    seq: ++seq,
    time,
    did: d,
    commit: cidFor(`commit:${d}:${rev}`),
    rev,
    collection,
    rkey,
    cid: cidFor(JSON.stringify(record) + rkey),
    record: { $type: collection, ...record },
  }
}

export function deleteEvent(
  d: string,
  collection: string,
  rkey: string,
  rev: string,
  time = '2026-01-01T00:00:00.000Z',
): RecordDeleteEvent {
  return { type: 'delete', seq: ++seq, time, did: d, commit: cidFor(`commit:${d}:${rev}`), rev, collection, rkey }
}

export const createdAt = '2025-12-01T00:00:00.000Z'
export const strongRef = (uri: string) => ({ uri, cid: cidFor(uri) })
