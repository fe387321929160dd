/** SIGKILL in the middle of a stream, restart: no seq is missing (duplicates allowed, gaps not). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildCommitFrame } from './test/atproto-testing.js'
import { ensureBuilt, spawnIngester, type Child } from './test/child.js'
import { replayFrames, startFrameServer, type FrameServer, type SeqFrame } from './test/frame-server.js'
import { newRedis, readEvents, uniqueName, waitFor, withSeq } from './test/helpers.js'

const redis = newRedis()
const TOTAL = 3000
let server: FrameServer
const children: Child[] = []

beforeAll(async () => {
  ensureBuilt()
  const dids = ['did:plc:killaaaaaaaaaaaaaaaaaaaa', 'did:plc:killbbbbbbbbbbbbbbbbbbbb', 'did:plc:killcccccccccccccccccccc']
  const templates = await Promise.all(
    dids.map((did, i) =>
      buildCommitFrame({
        seq: 0,
        did,
        ops: [
          {
            action: 'create',
            collection: 'app.bsky.feed.post',
            rkey: `k${i}`,
            record: { $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt: new Date().toISOString() },
          },
        ],
      }),
    ),
  )
  const frames: SeqFrame[] = []
  for (let seq = 1; seq <= TOTAL; seq++) frames.push({ seq, bytes: withSeq(templates[seq % templates.length] as Uint8Array, seq) })
  // paced (~2000 frames/s) so that the kill lands in the middle of the stream
  server = await startFrameServer((conn) => replayFrames(conn, frames, { perTick: 20, tickMs: 10 }))
})
afterAll(async () => {
  for (const c of children) c.proc.kill('SIGKILL')
  await server.close()
  await redis.quit()
})

describe('SIGKILL and restart', () => {
  it('resumes from the stored cursor without a gap', async () => {
    const stream = uniqueName('firehose_live')
    const env = {
      REDIS_URL: process.env.REDIS_URL as string,
      INGESTER_RELAY_HOSTS: server.url,
      INGESTER_FIREHOSE_STREAM: stream,
      INGESTER_REPO_STREAM: uniqueName('repo_backfill'),
      INGESTER_WRITE_BATCH: '50',
      INGESTER_BATCH_TIMEOUT_MS: '20',
      INGESTER_CURSOR_INTERVAL_MS: '50',
      INGESTER_RECONNECT_INITIAL_MS: '50',
    }
    const cursorKey = `${stream}:cursor:${server.url.replace('ws://', '')}`
    const first = spawnIngester(env)
    children.push(first)
    await waitFor(async () => (await redis.xlen(stream)) >= TOTAL / 3, 60_000, 'a third of the stream')
    first.proc.kill('SIGKILL')
    expect(await first.exited).toBeNull()
    const cursorAtKill = Number(await redis.get(cursorKey))
    const lenAtKill = await redis.xlen(stream)
    expect(cursorAtKill).toBeGreaterThan(0)
    expect(lenAtKill).toBeLessThan(TOTAL)

    const second = spawnIngester(env)
    children.push(second)
    await waitFor(async () => Number(await redis.get(cursorKey)) >= TOTAL, 20_000, 'cursor at the last seq')
    // the second process resumed from the stored cursor, not from the start or live
    expect(server.connections[1]?.cursor).toBe(cursorAtKill)
    const seqs = new Set((await readEvents(redis, stream)).map((e) => e.seq))
    const missing = Array.from({ length: TOTAL }, (_, i) => i + 1).filter((s) => !seqs.has(s))
    expect(missing).toEqual([])
    second.proc.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  })
})
