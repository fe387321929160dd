/**
 * Redis goes down in the middle of a stream (a private redis-server, killed and restarted on the
 * same port with its append-only file): the ingester stops reading, retries, and resumes with
 * nothing lost and the cursor never ahead of what is in Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createRedis } from '@firehose/streams'
import { startIngester } from './ingester.js'
import { buildCommitFrame } from './test/atproto-testing.js'
import { replayFrames, startFrameServer, type SeqFrame } from './test/frame-server.js'
import { quietLogger, testConfig, waitFor, withSeq } from './test/helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'ingester-redis-'))
let server: ChildProcess | undefined
afterAll(() => {
  server?.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}

function startRedis(port: number): ChildProcess {
  return spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'],
    { stdio: 'ignore' },
  )
}

describe('Redis down', () => {
  it('stops reading, retries and resumes without losing or skipping anything', async () => {
    const port = await freePort()
    server = startRedis(port)
    const url = `redis://127.0.0.1:${port}`
    const probe = createRedis({ url })
    probe.on('error', () => {})
    await waitFor(async () => (await probe.ping().catch(() => '')) === 'PONG', 5000, 'private redis')

    const TOTAL = 3000
    const template = await buildCommitFrame({
      seq: 0,
      did: 'did:plc:redisdownaaaaaaaaaaaaaaa',
      ops: [
        {
          action: 'create',
          collection: 'app.bsky.feed.post',
          rkey: 'r',
          record: { $type: 'app.bsky.feed.post', text: 'down', createdAt: new Date().toISOString() },
        },
      ],
    })
    const frames: SeqFrame[] = []
    for (let seq = 1; seq <= TOTAL; seq++) frames.push({ seq, bytes: withSeq(template, seq) })
    const relay = await startFrameServer((conn) => replayFrames(conn, frames, { perTick: 30, tickMs: 10 }))
    const config = { ...testConfig({ INGESTER_RELAY_HOSTS: relay.url, INGESTER_WRITE_BATCH: '50' }), redisUrl: url }
    const ing = await startIngester(config, { logger: quietLogger(), http: false })
    const cursorKey = `${config.firehoseStream}:cursor:${relay.url.replace('ws://', '')}`
    try {
      await waitFor(async () => (await probe.xlen(config.firehoseStream).catch(() => 0)) >= 500, 10_000, 'some entries')
      server.kill('SIGKILL')
      await new Promise((r) => server?.once('exit', r))
      await new Promise((r) => setTimeout(r, 700))
      // while Redis is down the socket is paused: the producer holds only a few batches
      expect(ing.producer.isFull()).toBe(true)
      server = startRedis(port)
      await waitFor(async () => Number(await probe.get(cursorKey).catch(() => 0)) >= TOTAL, 20_000, 'cursor at the last seq')
      const all = (await probe.xrange(config.firehoseStream, '-', '+')) as [string, string[]][]
      const seqs = new Set(all.map(([, f]) => (JSON.parse(f[1] as string) as { seq: number }).seq))
      expect(Array.from({ length: TOTAL }, (_, i) => i + 1).filter((s) => !seqs.has(s))).toEqual([])
      // retried writes and a paused socket, not a reconnect to the relay from scratch
      expect(relay.connections[0]?.cursor).toBeUndefined()
    } finally {
      await ing.close()
      await relay.close()
      probe.disconnect()
    }
  }, 60_000)
})
