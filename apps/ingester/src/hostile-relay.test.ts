/**
 * A hostile relay (packages/testkit/src/hostile/relay.ts, a real server) whose commits hold `/`
 * inside rkeys, collections that are not NSIDs, repos that are not DIDs, revs that are not TIDs,
 * identity events for non-DIDs, and commits past the lexicon's 200 ops. Each invalid op is
 * dropped with a metric and a log line; the valid ops of the same commit, and every other frame,
 * reach `firehose_live`; the process stays up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HostileRelay, type RelayFrame } from '@firehose/testkit'
import { startIngester } from './ingester.js'
import { buildCommitFrame, encodeMessageFrame } from './test/atproto-testing.js'
import { captureLogger } from './test/log-capture.js'
import { metricValue, newRedis, readEvents, testConfig, waitFor } from './test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

const did = 'did:plc:hostilerelayaaaaaaaaaaaa'
const post = (text: string) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })
const create = (collection: string, rkey: string, text: string) => ({ action: 'create' as const, collection, rkey, record: post(text) })

describe('hostile relay', () => {
  let relay: HostileRelay
  beforeAll(async () => {
    const frames: RelayFrame[] = []
    const add = async (seq: number, bytes: Promise<Uint8Array> | Uint8Array) => frames.push({ seq, bytes: await bytes })
    await add(1, buildCommitFrame({ seq: 1, did, ops: [create('app.bsky.feed.post', '3kaaaaaaaaaa1', 'good 1')] }))
    // one commit: a valid op between a `/` inside an rkey and a collection that is no NSID
    await add(
      2,
      buildCommitFrame({
        seq: 2,
        did,
        ops: [
          create('app.bsky.feed.post', '3kaaaaaaaaaa2/../../x', 'slash'),
          create('app.bsky.feed.post', '3kaaaaaaaaaa2', 'good 2'),
          create('not_an.nsid!', '3kaaaaaaaaaa3', 'bad nsid'),
        ],
      }),
    )
    await add(3, buildCommitFrame({ seq: 3, did: 'did:plc:UPPER space', ops: [create('app.bsky.feed.post', '3kaaaaaaaaaa4', 'bad did')] }))
    await add(4, buildCommitFrame({ seq: 4, did, rev: 'not-a-tid', ops: [create('app.bsky.feed.post', '3kaaaaaaaaaa5', 'bad rev')] }))
    await add(5, encodeMessageFrame('#identity', { seq: 5, did: 'did:web:exa mple.com', time: new Date().toISOString() }))
    await add(
      6,
      buildCommitFrame({
        seq: 6,
        did,
        ops: Array.from({ length: 201 }, (_, i) => create('app.bsky.feed.post', `3kbbbbbbbb${String(i).padStart(3, '0')}`, 'too many')),
      }),
    )
    await add(7, buildCommitFrame({ seq: 7, did, ops: [create('app.bsky.feed.post', '3kaaaaaaaaaa7', 'good 7')] }))
    relay = await HostileRelay.start(frames)
  })
  afterAll(() => relay.close())

  it('drops each invalid op or message, counted and logged, and writes the rest', async () => {
    const { logger, lines } = captureLogger()
    const config = testConfig({ INGESTER_RELAY_HOSTS: relay.url })
    const ing = await startIngester(config, { logger, http: false })
    try {
      await waitFor(async () => (await redis.get(`${config.firehoseStream}:cursor:${relay.host}`)) === '7', 15_000, 'cursor 7')
      const events = await readEvents(redis, config.firehoseStream)
      expect(events.map((e) => (e.type === 'create' ? `${e.seq}:${e.rkey}:${e.record.text as string}` : e.type))).toEqual([
        '1:3kaaaaaaaaaa1:good 1',
        '2:3kaaaaaaaaaa2:good 2',
        '7:3kaaaaaaaaaa7:good 7',
      ])
      const text = await ing.registry.metrics()
      const host = relay.host
      expect(metricValue(text, 'ingester_invalid_ops_total', { host, reason: 'invalid-rkey' })).toBe(1)
      expect(metricValue(text, 'ingester_invalid_ops_total', { host, reason: 'invalid-collection' })).toBe(1)
      expect(metricValue(text, 'ingester_invalid_ops_total', { host, reason: 'invalid-did' })).toBe(2)
      expect(metricValue(text, 'ingester_invalid_ops_total', { host, reason: 'invalid-rev' })).toBe(1)
      expect(metricValue(text, 'ingester_decode_errors_total', { host, reason: 'too-many-ops' })).toBe(1)
      const dropped = lines.filter((l) => l.msg.startsWith('ops with invalid syntax dropped'))
      expect(dropped.map((l) => l.seq)).toEqual([2, 3, 4, 5])
      // the too-large commit's repo is re-fetched whole; no job names a non-DID
      const jobs = (await redis.xrange(config.repoStream, '-', '+')).map(([, f]) => JSON.parse(f[1] as string) as { did: string })
      expect(jobs.map((j) => j.did)).toEqual([did])
    } finally {
      await ing.close()
    }
  })
})
