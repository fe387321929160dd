import { describe, expect, it } from 'vitest'
import { decodeEvent, decodeLabelEntry, decodeRepoJob, encodeEvent, isBackfillSeq, type StreamEvent } from './events.js'

describe('StreamEvent codec', () => {
  it('decodes an entry written by the earlier TypeScript ingester', () => {
    // As FirehoseIngester wrote it: seq number, ISO time, CID strings, record in lex JSON.
    const raw =
      '{"type":"create","seq":123456,"time":"2024-11-20T10:00:00.000Z","did":"did:plc:abc","commit":"bafyreia","rev":"3lbxyz","collection":"app.bsky.feed.post","rkey":"3lbxyz","cid":"bafyreib","record":{"$type":"app.bsky.feed.post","text":"hi","createdAt":"2024-11-20T10:00:00.000Z","embed":{"$type":"app.bsky.embed.images","images":[{"alt":"","image":{"$type":"blob","ref":{"$link":"bafkreic"},"mimeType":"image/jpeg","size":1}}]}}}'
    const ev = decodeEvent(raw)
    expect(ev.type).toBe('create')
    if (ev.type !== 'create') throw new Error()
    expect(ev.seq).toBe(123456)
    expect(ev.did).toBe('did:plc:abc')
    expect(ev.collection).toBe('app.bsky.feed.post')
    expect(ev.record.text).toBe('hi')
  })

  it('accepts backfill seq -1 (older writers) and -2 (ours), and CIDs as $link', () => {
    const ev = decodeEvent('{"type":"repo","seq":-1,"time":"2024-01-01T00:00:00Z","did":"did:plc:a","commit":{"$link":"bafyc"},"rev":"3l"}')
    expect(ev).toMatchObject({ type: 'repo', seq: -1, commit: 'bafyc' })
    expect(isBackfillSeq(-1) && isBackfillSeq(-2) && !isBackfillSeq(5)).toBe(true)
  })

  it('round-trips every type', () => {
    const events: StreamEvent[] = [
      { type: 'update', seq: 1, time: 't', did: 'd', commit: 'c', rev: 'r', collection: 'x.y.z', rkey: 'self', cid: 'b', record: { a: 1 } },
      { type: 'delete', seq: 2, time: 't', did: 'd', commit: 'c', rev: 'r', collection: 'x.y.z', rkey: 'k' },
      { type: 'account', seq: 3, time: 't', did: 'd', active: false, status: 'takendown' },
      { type: 'identity', seq: 4, time: 't', did: 'd', handle: 'a.test' },
    ]
    for (const e of events) expect(decodeEvent(encodeEvent(e))).toEqual(e)
  })

  it("reads rsky's record bytes (arrays of numbers) as { $bytes }, at any depth, and leaves the rest as written", () => {
    const raw = JSON.stringify({
      type: 'create',
      seq: 1,
      time: 't',
      did: 'd',
      commit: 'c',
      rev: 'r',
      collection: 'x.y.z',
      rkey: 'k',
      cid: 'b',
      record: {
        $type: 'x.y.z',
        data: [1, 2, 255],
        nested: { list: [{ sig: [0, 0, 0, 0] }, 'text'], link: { $link: 'bafy' }, ours: { $bytes: 'AQI' } },
        strings: ['a', 'b'],
        empty: [],
        mixed: [1, 'a'],
        big: [1, 256],
        negative: [-1],
        fraction: [1.5],
      },
    })
    const ev = decodeEvent(raw)
    if (ev.type !== 'create') throw new Error('not a create')
    expect(ev.record).toEqual({
      $type: 'x.y.z',
      data: { $bytes: 'AQL/' },
      nested: { list: [{ sig: { $bytes: 'AAAAAA' } }, 'text'], link: { $link: 'bafy' }, ours: { $bytes: 'AQI' } },
      strings: ['a', 'b'],
      empty: [],
      mixed: [1, 'a'],
      big: [1, 256],
      negative: [-1],
      fraction: [1.5],
    })
    // what we write back is the contract's form
    expect(JSON.parse(encodeEvent(ev)).record.data).toEqual({ $bytes: 'AQL/' })
  })

  it('tolerates unknown fields and types; rejects malformed known types', () => {
    expect(decodeEvent('{"type":"identity","seq":1,"time":"t","did":"d","extra":1}')).toEqual({
      type: 'identity',
      seq: 1,
      time: 't',
      did: 'd',
    })
    expect(decodeEvent('{"type":"sync","seq":1}')).toEqual({ type: 'unknown', rawType: 'sync' })
    expect(() => decodeEvent('{"type":"create","seq":1}')).toThrow(/did|string/)
    expect(() => decodeEvent('not json')).toThrow(/not JSON/)
  })

  it('reads label entries in our form and in rsky form (byte arrays)', () => {
    const ours = decodeLabelEntry({
      event: '{"type":"label","label":{"src":"did:plc:l","uri":"at://x","val":"spam","cts":"2024-01-01T00:00:00Z","sig":{"$bytes":"AQI"}}}',
    })
    expect(ours).toHaveLength(1)
    expect(ours[0]?.label.sig).toEqual({ $bytes: 'AQI' })
    const rsky = decodeLabelEntry({
      labels:
        '{"seq":7,"labels":[{"src":"did:plc:l","uri":"at://x","val":"a","cts":"c","neg":true,"sig":[1,2]},{"src":"s","uri":"u","val":"b","cts":"c"}]}',
    })
    expect(rsky).toHaveLength(2)
    expect(rsky[0]).toMatchObject({ seq: 7, label: { neg: true, sig: { $bytes: 'AQI' } } })
  })

  it('reads repo_backfill jobs', () => {
    expect(decodeRepoJob('{"did":"did:plc:a","host":"https://pds","rev":"3l","active":true}')).toEqual({
      did: 'did:plc:a',
      host: 'https://pds',
      rev: '3l',
      active: true,
    })
    expect(() => decodeRepoJob('{"host":"x"}')).toThrow(/did/)
  })
})
