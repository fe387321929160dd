import { decode as atcuteDecode } from '@atcute/cbor'
import { CarWriter } from '@ipld/car/writer'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { CommitBlockError, FrameDecodeError } from './errors.js'
import { firehoseMessageToEvents, type FirehoseResult } from './firehose.js'
import { decodeFrame, encodeErrorFrame, encodeMessageFrame, type FrameBody } from './frames.js'
import { labelsMessage, labelsMessageToResult } from './labels.js'
import { buildCommitFrame } from './testing.js'

/** Independent encoders: @ipld/dag-cbor + @ipld/car + multiformats. */
const block = async (value: unknown) => {
  const bytes = dagCbor.encode(value)
  return { cid: CID.createV1(dagCbor.code, await sha256.digest(bytes)), bytes }
}
const car = async (roots: CID[], blocks: Array<{ cid: CID; bytes: Uint8Array }>) => {
  const { writer, out } = CarWriter.create(roots as never) // @ipld/car types pin another multiformats major
  const chunks: Uint8Array[] = []
  const collected = (async () => {
    for await (const c of out) chunks.push(c)
  })()
  for (const b of blocks) await writer.put(b as never)
  await writer.close()
  await collected
  return new Uint8Array(Buffer.concat(chunks))
}
const frame = (header: unknown, body: unknown) => new Uint8Array(Buffer.concat([dagCbor.encode(header), dagCbor.encode(body)]))

const DID = 'did:plc:firehosetest'
const TIME = '2024-05-01T12:00:00.000Z'
const post = { $type: 'app.bsky.feed.post', text: 'hello', createdAt: TIME }
const blob = CID.parse('bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity')
const withLinks = {
  $type: 'app.bsky.actor.profile',
  avatar: { $type: 'blob', ref: blob, mimeType: 'image/png', size: 12 },
  raw: new Uint8Array([1, 2, 3, 250]),
}

const commitFrame = async (opts: { dropRecord?: boolean; corrupt?: boolean } = {}) => {
  const a = await block(post)
  const b = await block(withLinks)
  const commit = await block({ did: DID, version: 3, data: a.cid, rev: '3kabcaaaaaaaa', prev: null, sig: new Uint8Array(64) })
  let recordA = a
  if (opts.corrupt) recordA = { cid: a.cid, bytes: dagCbor.encode({ ...post, text: 'tampered' }) }
  const blocks = [commit, ...(opts.dropRecord ? [] : [recordA]), b]
  const body = {
    seq: 42,
    rebase: false,
    tooBig: false,
    repo: DID,
    commit: commit.cid,
    rev: '3kabcaaaaaaaa',
    since: null,
    blocks: await car([commit.cid], blocks),
    ops: [
      { action: 'create', path: 'app.bsky.feed.post/3kaaa', cid: a.cid },
      { action: 'update', path: 'app.bsky.actor.profile/self', cid: b.cid },
      { action: 'delete', path: 'app.bsky.feed.like/3kbbb', cid: null },
    ],
    blobs: [],
    time: TIME,
  }
  return { bytes: frame({ op: 1, t: '#commit' }, body), commitCid: commit.cid.toString(), a, b }
}

const map = (bytes: Uint8Array): FirehoseResult => {
  const f = decodeFrame(bytes)
  if (f.kind !== 'message') throw new Error('expected a message frame')
  return firehoseMessageToEvents(f.type, f.body)
}

describe('subscribeRepos #commit → events', () => {
  it('maps create/update/delete ops with records in lex JSON', async () => {
    const { bytes, commitCid, a, b } = await commitFrame()
    const result = map(bytes)
    const common = { seq: 42, time: TIME, did: DID, commit: commitCid, rev: '3kabcaaaaaaaa' }
    expect(result).toEqual({
      kind: 'events',
      seq: 42,
      events: [
        { type: 'create', ...common, collection: 'app.bsky.feed.post', rkey: '3kaaa', cid: a.cid.toString(), record: post },
        {
          type: 'update',
          ...common,
          collection: 'app.bsky.actor.profile',
          rkey: 'self',
          cid: b.cid.toString(),
          record: {
            $type: 'app.bsky.actor.profile',
            avatar: { $type: 'blob', ref: { $link: blob.toString() }, mimeType: 'image/png', size: 12 },
            raw: { $bytes: Buffer.from([1, 2, 3, 250]).toString('base64').replace(/=+$/, '') },
          },
        },
        { type: 'delete', ...common, collection: 'app.bsky.feed.like', rkey: '3kbbb' },
      ],
    })
    // JSON-serializable as written to the stream
    expect(JSON.parse(JSON.stringify(result))).toEqual(result)
  })

  it('a missing record block fails the frame, naming seq and path', async () => {
    const { bytes } = await commitFrame({ dropRecord: true })
    const err = (() => {
      try {
        map(bytes)
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(CommitBlockError)
    expect(err).toMatchObject({ reason: 'missing-block', seq: 42, did: DID, path: 'app.bsky.feed.post/3kaaa' })
    expect((err as Error).message).toContain('seq=42')
  })

  it('a record block whose bytes do not match its CID fails the frame', async () => {
    const { bytes } = await commitFrame({ corrupt: true })
    expect(() => map(bytes)).toThrow(
      expect.objectContaining({ name: 'CommitBlockError', reason: 'cid-mismatch', path: 'app.bsky.feed.post/3kaaa' }),
    )
  })

  it('the testing helper builds frames that map back to their ops', async () => {
    const bytes = await buildCommitFrame({
      seq: 7,
      did: DID,
      time: TIME,
      ops: [
        { action: 'create', collection: 'app.bsky.feed.post', rkey: '3k1', record: post },
        { action: 'delete', collection: 'app.bsky.feed.post', rkey: '3k0' },
      ],
    })
    const result = map(bytes)
    expect(result.kind).toBe('events')
    if (result.kind !== 'events') return
    expect(result.events.map((e) => [e.type, e.seq, e.did, 'rkey' in e ? e.rkey : null])).toEqual([
      ['create', 7, DID, '3k1'],
      ['delete', 7, DID, '3k0'],
    ])
    expect(result.events[0]).toMatchObject({ record: post, time: TIME })
  })

  it('a legacy tooBig commit asks for a backfill instead of failing on its missing blocks', async () => {
    const a = await block(post)
    const body = {
      seq: 43,
      rebase: false,
      tooBig: true,
      repo: DID,
      commit: a.cid,
      rev: '3kabdaaaaaaaa',
      since: null,
      blocks: new Uint8Array(0),
      ops: [{ action: 'create', path: 'app.bsky.feed.post/3kaaa', cid: a.cid }],
      blobs: [],
      time: TIME,
    }
    expect(map(frame({ op: 1, t: '#commit' }, body))).toEqual({ kind: 'sync', seq: 43, time: TIME, did: DID, rev: '3kabdaaaaaaaa' })
  })

  it('the lexicon limits: more than 200 ops or blocks over 2,000,000 bytes refuse the commit (CommitBlockError, repo known)', async () => {
    const a = await block(post)
    const base = {
      seq: 44,
      rebase: false,
      tooBig: false,
      repo: DID,
      commit: a.cid,
      rev: '3kabdaaaaaaaa',
      since: null,
      blobs: [],
      time: TIME,
    }
    const op = (i: number) => ({ action: 'delete', path: `app.bsky.feed.post/3kaaa${i}`, cid: null })
    const many = map(
      frame({ op: 1, t: '#commit' }, { ...base, blocks: new Uint8Array(0), ops: Array.from({ length: 200 }, (_, i) => op(i)) }),
    )
    expect(many.kind === 'events' && many.events.length).toBe(200)
    const tooMany = () =>
      map(frame({ op: 1, t: '#commit' }, { ...base, blocks: new Uint8Array(0), ops: Array.from({ length: 201 }, (_, i) => op(i)) }))
    expect(tooMany).toThrow(CommitBlockError)
    expect(tooMany).toThrow(/too-many-ops/)
    const large = () => map(frame({ op: 1, t: '#commit' }, { ...base, blocks: new Uint8Array(2_000_001), ops: [op(1)] }))
    expect(large).toThrow(/blocks-too-large/)
  })

  it('syntax: an invalid collection or rkey drops its op alone; an invalid repo DID or rev drops the commit', async () => {
    const a = await block(post)
    const base = {
      seq: 45,
      rebase: false,
      tooBig: false,
      repo: DID,
      commit: a.cid,
      rev: '3kabdaaaaaaaa',
      since: null,
      blobs: [],
      time: TIME,
      blocks: new Uint8Array(0),
    }
    const del = (path: string) => ({ action: 'delete', path, cid: null })
    const r = map(
      frame(
        { op: 1, t: '#commit' },
        { ...base, ops: [del('app.bsky.feed.post/a/b'), del('app.bsky.feed.post/ok'), del('app..post/x'), del('app.bsky.feed.post/..')] },
      ),
    )
    expect(r).toMatchObject({
      kind: 'events',
      seq: 45,
      invalid: [
        { reason: 'invalid-rkey', value: 'app.bsky.feed.post/a/b' },
        { reason: 'invalid-collection', value: 'app..post/x' },
        { reason: 'invalid-rkey', value: 'app.bsky.feed.post/..' },
      ],
    })
    expect(r.kind === 'events' && r.events.map((e) => e.type === 'delete' && e.rkey)).toEqual(['ok'])
    expect(map(frame({ op: 1, t: '#commit' }, { ...base, repo: 'did:plc:a b', ops: [del('app.bsky.feed.post/ok')] }))).toEqual({
      kind: 'events',
      seq: 45,
      events: [],
      invalid: [{ reason: 'invalid-did', value: 'did:plc:a b' }],
    })
    expect(map(frame({ op: 1, t: '#commit' }, { ...base, rev: '3kabd', ops: [del('app.bsky.feed.post/ok')] }))).toEqual({
      kind: 'events',
      seq: 45,
      events: [],
      invalid: [{ reason: 'invalid-rev', value: '3kabd' }],
    })
  })

  it('a commit with a malformed body is a FrameDecodeError', () => {
    expect(() => map(frame({ op: 1, t: '#commit' }, { seq: 'x' }))).toThrow(FrameDecodeError)
    expect(() => firehoseMessageToEvents('#commit', { seq: 1, repo: DID, time: TIME, rev: 'r', commit: 'notacid', ops: [] })).toThrow(
      FrameDecodeError,
    )
  })
})

describe('subscribeRepos other messages', () => {
  it('#identity, with and without handle', () => {
    expect(map(frame({ op: 1, t: '#identity' }, { seq: 5, did: DID, time: TIME, handle: 'alice.test' }))).toEqual({
      kind: 'events',
      seq: 5,
      events: [{ type: 'identity', seq: 5, time: TIME, did: DID, handle: 'alice.test' }],
    })
    const noHandle = map(frame({ op: 1, t: '#identity' }, { seq: 6, did: DID, time: TIME }))
    expect(noHandle).toEqual({ kind: 'events', seq: 6, events: [{ type: 'identity', seq: 6, time: TIME, did: DID }] })
  })

  it.each(['takendown', 'suspended', 'deleted', 'deactivated', 'desynchronized', 'throttled', 'some-future-status'])(
    '#account with status %s',
    (status) => {
      expect(map(frame({ op: 1, t: '#account' }, { seq: 9, did: DID, time: TIME, active: false, status }))).toEqual({
        kind: 'events',
        seq: 9,
        events: [{ type: 'account', seq: 9, time: TIME, did: DID, active: false, status }],
      })
    },
  )

  it('#account active without status', () => {
    const r = map(frame({ op: 1, t: '#account' }, { seq: 10, did: DID, time: TIME, active: true }))
    expect(r).toEqual({ kind: 'events', seq: 10, events: [{ type: 'account', seq: 10, time: TIME, did: DID, active: true }] })
  })

  it('#sync asks for a backfill', async () => {
    const body = { seq: 11, did: DID, time: TIME, rev: '3kzzzaaaaaaaa', blocks: new Uint8Array([1]) }
    expect(map(frame({ op: 1, t: '#sync' }, body))).toEqual({ kind: 'sync', seq: 11, time: TIME, did: DID, rev: '3kzzzaaaaaaaa' })
  })

  it('#info and unknown types', () => {
    expect(map(frame({ op: 1, t: '#info' }, { name: 'OutdatedCursor', message: 'too old' }))).toEqual({
      kind: 'info',
      name: 'OutdatedCursor',
      message: 'too old',
    })
    expect(map(frame({ op: 1, t: '#handle' }, { seq: 12, did: DID, handle: 'x' }))).toEqual({ kind: 'unknown', type: '#handle', seq: 12 })
  })
})

describe('decodeFrame', () => {
  it('error frames', () => {
    expect(decodeFrame(frame({ op: -1 }, { error: 'FutureCursor', message: 'cursor in the future' }))).toEqual({
      kind: 'error',
      error: 'FutureCursor',
      message: 'cursor in the future',
    })
    expect(decodeFrame(encodeErrorFrame('ConsumerTooSlow'))).toEqual({ kind: 'error', error: 'ConsumerTooSlow' })
  })

  it('our encoder and @ipld/dag-cbor agree', () => {
    const ours = encodeMessageFrame('#info', { name: 'x' })
    expect(Buffer.from(ours).equals(Buffer.from(frame({ op: 1, t: '#info' }, { name: 'x' })))).toBe(true)
  })

  it.each([
    ['empty', new Uint8Array(0)],
    ['random bytes', new Uint8Array([0xff, 0x00, 0x13, 0x37, 0x42])],
    ['text', Buffer.from('{"op":1,"t":"#commit"}')],
    ['header only', dagCbor.encode({ op: 1, t: '#commit' })],
    ['header not a map', frame([1, 2], { a: 1 })],
    ['body not a map', frame({ op: 1, t: '#commit' }, 'str')],
    ['unknown op', frame({ op: 2, t: '#commit' }, {})],
    ['message without t', frame({ op: 1 }, {})],
    ['error without error', frame({ op: -1 }, { message: 'x' })],
    ['trailing garbage', new Uint8Array([...frame({ op: 1, t: '#info' }, { name: 'x' }), 0x01])],
    ['truncated', frame({ op: 1, t: '#info' }, { name: 'xyz' }).subarray(0, -2)],
  ])('garbage: %s → FrameDecodeError', (_n, bytes) => {
    expect(() => decodeFrame(bytes)).toThrow(FrameDecodeError)
  })
})

describe('subscribeLabels', () => {
  it('#labels keeps every label field, sig as $bytes', () => {
    const sig = new Uint8Array(64).fill(7)
    const labels = [
      {
        ver: 1,
        src: 'did:plc:labeler',
        uri: 'at://did:plc:x/app.bsky.feed.post/1',
        cid: 'bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a',
        val: 'spam',
        neg: false,
        cts: TIME,
        exp: '2025-01-01T00:00:00.000Z',
        sig,
      },
      { src: 'did:plc:labeler', uri: 'did:plc:x', val: '!hide', neg: true, cts: TIME },
    ]
    const f = decodeFrame(frame({ op: 1, t: '#labels' }, { seq: 100, labels }))
    if (f.kind !== 'message') throw new Error('expected message')
    const expected = {
      seq: 100,
      labels: [{ ...labels[0], sig: { $bytes: Buffer.from(sig).toString('base64').replace(/=+$/, '') } }, labels[1]],
    }
    expect(labelsMessage(atcuteDecode(dagCbor.encode({ seq: 100, labels })) as FrameBody)).toEqual(expected)
    expect(labelsMessageToResult(f.type, f.body)).toEqual({ kind: 'labels', ...expected })
  })

  it('#info, unknown and malformed', () => {
    expect(labelsMessageToResult('#info', { name: 'OutdatedCursor' })).toEqual({ kind: 'info', name: 'OutdatedCursor' })
    expect(labelsMessageToResult('#other', { seq: 3 })).toEqual({ kind: 'unknown', type: '#other', seq: 3 })
    expect(() => labelsMessage({ seq: 1, labels: [{ src: 1 }] })).toThrow(FrameDecodeError)
    expect(() => labelsMessage({ labels: [] })).toThrow(FrameDecodeError)
  })
})
