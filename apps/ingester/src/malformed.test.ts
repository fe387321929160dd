import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BytesWrapper } from '@atcute/cbor'
import { encodeCar, readCar } from '@firehose/atproto'
import { startIngester } from './ingester.js'
import { buildCommitFrame, encodeErrorFrame, encodeMessageFrame } from './test/atproto-testing.js'
import { startFrameServer, type FrameServer, type SeqFrame } from './test/frame-server.js'
import { metricValue, newRedis, quietLogger, readEvents, testConfig, waitFor } from './test/helpers.js'
import { decodeFrame } from '@firehose/atproto'

const redis = newRedis()
afterAll(() => redis.quit())

const did = 'did:plc:malformed000000000000000'
const post = (i: number) => ({ $type: 'app.bsky.feed.post', text: `good ${i}`, createdAt: new Date().toISOString() })

/** A #commit frame whose `blocks` CAR is cut short. */
async function truncatedCommit(seq: number): Promise<Uint8Array> {
  const good = decodeFrame(
    await buildCommitFrame({
      seq,
      did,
      ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: `bad${seq}`, record: post(seq) }],
    }),
  )
  if (good.kind !== 'message') throw new Error('unreachable')
  const blocks = good.body.blocks as BytesWrapper
  return encodeMessageFrame('#commit', { ...good.body, blocks: new BytesWrapper(blocks.buf.subarray(0, blocks.buf.length - 20)) })
}

/** A #commit frame whose record block does not hash to the op's CID. */
async function mismatchedCommit(seq: number): Promise<Uint8Array> {
  const other = decodeFrame(
    await buildCommitFrame({ seq, did, ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: `mm${seq}`, record: post(-1) }] }),
  )
  const good = decodeFrame(
    await buildCommitFrame({
      seq,
      did,
      ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: `mm${seq}`, record: post(seq) }],
    }),
  )
  if (good.kind !== 'message' || other.kind !== 'message') throw new Error('unreachable')
  // the CAR holds another record's bytes under the op's CID
  type Link = { bytes: Uint8Array }
  const opCid = ((good.body.ops as { cid: Link }[])[0] as { cid: Link }).cid.bytes
  const otherCid = ((other.body.ops as { cid: Link }[])[0] as { cid: Link }).cid.bytes
  const otherBytes = readCar((other.body.blocks as BytesWrapper).buf, { verifyBlocks: false }).blocks.get(otherCid) as Uint8Array
  const car = encodeCar([], [{ cid: opCid, bytes: otherBytes }])
  return encodeMessageFrame('#commit', { ...good.body, blocks: new BytesWrapper(car) })
}

describe('bad frames', () => {
  let server: FrameServer
  let errorFrame: Uint8Array
  const frames: SeqFrame[] = []
  const goodSeqs: number[] = []
  beforeAll(async () => {
    let seq = 0
    const good = async () => {
      seq++
      goodSeqs.push(seq)
      frames.push({
        seq,
        bytes: await buildCommitFrame({
          seq,
          did,
          ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: `r${seq}`, record: post(seq) }],
        }),
      })
    }
    await good()
    frames.push({ seq: 0, bytes: new Uint8Array([0xff, 0x00, 0x13, 0x37]) }) // not CBOR
    await good()
    frames.push({ seq: 0, bytes: encodeMessageFrame('#commit', { nonsense: true }) }) // wrong shape
    await good()
    seq++
    // wrong shape, but its seq and repo are readable: logged with its seq, repo queued for backfill
    frames.push({
      seq,
      bytes: encodeMessageFrame('#commit', { seq, repo: did, time: new Date().toISOString(), rev: 'x', commit: 'not a link', ops: [] }),
    })
    await good()
    seq++
    frames.push({ seq, bytes: await truncatedCommit(seq) })
    await good()
    seq++
    frames.push({ seq, bytes: await mismatchedCommit(seq) })
    await good()
    seq++
    frames.push({ seq, bytes: encodeMessageFrame('#somethingNew', { seq, did, whatever: [1, 2, 3] }) }) // unknown type
    await good()
    frames.push({ seq: 0, bytes: encodeMessageFrame('#info', { name: 'OutdatedCursor', message: 'too old' }) })
    await good()
    frames.push({ seq: 0, bytes: encodeCar([], []) }) // one CBOR value only
    await good()
    // an error frame ends the connection; on reconnect the server resumes after our cursor
    errorFrame = encodeErrorFrame('ConsumerTooSlow', 'slow down')
    frames.push({ seq: 0, bytes: errorFrame })
    await good()
    await good()
    server = await startFrameServer((conn) => {
      // resume after the cursor; the error frame is sent once only
      const errorSent = server.connections.length > 1
      const list = frames.filter((f) => !(errorSent && f.bytes === errorFrame))
      const start = conn.cursor === undefined ? 0 : list.findIndex((f) => f.seq > (conn.cursor as number))
      for (const f of list.slice(start < 0 ? list.length : start)) {
        conn.ws.send(f.bytes)
        if (f.bytes === errorFrame) {
          conn.ws.close()
          break
        }
      }
    })
  })
  afterAll(() => server.close())

  it('counts and skips each one, keeps running, and writes the good frames around them', async () => {
    const config = testConfig({ INGESTER_RELAY_HOSTS: server.url })
    const ing = await startIngester(config, { logger: quietLogger(), http: false })
    try {
      await waitFor(async () => (await redis.xlen(config.firehoseStream)) >= goodSeqs.length, 15_000, 'good frames')
      const events = await readEvents(redis, config.firehoseStream)
      expect(events.map((e) => e.seq)).toEqual(goodSeqs)
      expect(events.every((e) => e.type === 'create' && e.record.text === `good ${e.seq}`)).toBe(true)
      const text = await ing.registry.metrics()
      const host = server.url.replace('ws://', '')
      expect(metricValue(text, 'ingester_decode_errors_total', { host, reason: 'frame' })).toBe(4)
      expect(metricValue(text, 'ingester_decode_errors_total', { host, reason: 'bad-message' })).toBe(1) // truncated CAR
      expect(metricValue(text, 'ingester_decode_errors_total', { host, reason: 'cid-mismatch' })).toBe(1)
      expect(metricValue(text, 'ingester_error_frames_total', { host, error: 'ConsumerTooSlow' })).toBe(1)
      expect(metricValue(text, 'ingester_info_messages_total', { host, name: 'OutdatedCursor' })).toBe(1)
      expect(metricValue(text, 'ingester_reconnects_total', { host })).toBeGreaterThanOrEqual(1)
      // the undecodable commits' repo is queued for a backfill
      const jobs = await redis.xrange(config.repoStream, '-', '+')
      expect(jobs.length).toBe(3)
      // reconnected after the error frame from the cursor, not from the start
      expect(server.connections[1]?.cursor).toBe(goodSeqs[goodSeqs.length - 3])
    } finally {
      await ing.close()
    }
  })
})
