/**
 * High-water mark: with no consumer the stream stops growing near the mark, the socket is paused
 * (the server cannot send more, the ingester's RSS stays flat), and ingestion resumes, with
 * nothing lost, when entries are consumed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildCommitFrame } from './test/atproto-testing.js'
import { ensureBuilt, rssOf, spawnIngester, type Child } from './test/child.js'
import { replayFrames, startFrameServer, type FrameServer, type SeqFrame } from './test/frame-server.js'
import { newRedis, uniqueName, waitFor, withSeq } from './test/helpers.js'

const redis = newRedis()
const TOTAL = 6000
const HWM = 1000
const BATCH = 100
let server: FrameServer
let sent = 0
let child: Child | undefined

beforeAll(async () => {
  ensureBuilt()
  const did = 'did:plc:backpressureaaaaaaaaaaaa'
  // a fat record (~4 KB) so that a non-paused socket would show in RSS quickly
  const template = await buildCommitFrame({
    seq: 0,
    did,
    ops: [
      {
        action: 'create',
        collection: 'app.bsky.feed.post',
        rkey: 'bp',
        record: { $type: 'app.bsky.feed.post', text: 'x'.repeat(4000), createdAt: new Date().toISOString() },
      },
    ],
  })
  const frames: SeqFrame[] = []
  for (let seq = 1; seq <= TOTAL; seq++) frames.push({ seq, bytes: withSeq(template, seq) })
  server = await startFrameServer((conn) => {
    // count what the server managed to hand to its socket
    const origSend = conn.ws.send.bind(conn.ws)
    conn.ws.send = ((data: Uint8Array) => {
      sent++
      origSend(data)
    }) as typeof conn.ws.send
    replayFrames(conn, frames, { maxBuffered: 256 * 1024 })
  })
})
afterAll(async () => {
  child?.proc.kill('SIGKILL')
  await server.close()
  await redis.quit()
})

describe('high-water mark', () => {
  it('pauses the socket at the mark and resumes when entries are consumed', async () => {
    const stream = uniqueName('firehose_live')
    child = spawnIngester({
      REDIS_URL: process.env.REDIS_URL as string,
      INGESTER_RELAY_HOSTS: server.url,
      INGESTER_FIREHOSE_STREAM: stream,
      INGESTER_REPO_STREAM: uniqueName('repo_backfill'),
      INGESTER_HIGH_WATER_MARK: String(HWM),
      INGESTER_WRITE_BATCH: String(BATCH),
      INGESTER_BATCH_TIMEOUT_MS: '10',
    })
    const pid = child.proc.pid as number
    await waitFor(async () => (await redis.xlen(stream)) >= HWM, 60_000, 'stream at the mark')
    await new Promise((r) => setTimeout(r, 300))
    const rssAtMark = rssOf(pid)
    const sentAtMark = sent
    let maxLen = 0
    for (let i = 0; i < 20; i++) {
      maxLen = Math.max(maxLen, await redis.xlen(stream))
      await new Promise((r) => setTimeout(r, 50))
    }
    // the stream stopped growing near the mark
    expect(maxLen).toBeLessThanOrEqual(HWM + BATCH)
    // the server could not push more than socket buffers hold (a few hundred 4 KB frames)
    expect(sent - sentAtMark).toBeLessThan(500)
    // (what was sent sits in kernel socket buffers, not in the ingester)
    expect(sent).toBeLessThan(TOTAL)
    // RSS flat while paused
    expect(rssOf(pid) - rssAtMark).toBeLessThan(15 * 1024 * 1024)

    // a consumer drains the stream: ingestion resumes, nothing is lost
    const seen = new Set<number>()
    while (seen.size < TOTAL) {
      const batch = (await redis.xrange(stream, '-', '+', 'COUNT', 1000)) as [string, string[]][]
      if (batch.length === 0) {
        await new Promise((r) => setTimeout(r, 10))
        continue
      }
      for (const [, f] of batch) seen.add((JSON.parse(f[1] as string) as { seq: number }).seq)
      await redis.xdel(stream, ...batch.map(([id]) => id))
      maxLen = Math.max(maxLen, await redis.xlen(stream))
    }
    expect(seen.size).toBe(TOTAL)
    expect(maxLen).toBeLessThanOrEqual(HWM + BATCH)
    child.proc.kill('SIGTERM')
    expect(await child.exited).toBe(0)
  }, 60_000)
})
