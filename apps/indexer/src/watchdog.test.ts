/**
 * The indexer process exits non-zero when its read loop is stuck (the runtime's watchdog, as in
 * every app): Redis reached through a real TCP proxy that, once frozen,
 * swallows every byte both ways and closes nothing (a partition, or a server that hangs), so the
 * worker's XREADGROUP never returns.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTcpProxy, type TcpProxy } from '@firehose/testkit/tcp-proxy'
import { waitFor } from '@firehose/testkit/wait'
import { createTestDb, type TestDb } from './test/db.js'

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js')
const WATCHDOG_MS = 2000

describe('indexer process: watchdog', () => {
  let db: TestDb
  let proxy: TcpProxy
  const redisUrl = new URL(process.env.REDIS_URL as string)
  const redis = new Redis(redisUrl.toString())
  const stream = `wd_${randomBytes(4).toString('hex')}`

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build the indexer first`)
    db = await createTestDb({ migrated: false })
    proxy = await startTcpProxy({ host: redisUrl.hostname, port: Number(redisUrl.port) })
  })
  afterAll(async () => {
    await proxy?.close()
    await db?.drop()
    await redis.del(stream)
    await redis.quit()
  })

  it('exits non-zero when its read loop is stuck, and not before', async () => {
    const child = spawn(process.execPath, [MAIN], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        REDIS_URL: `redis://${proxy.host}:${proxy.port}`,
        DATABASE_URL: db.url,
        INDEXER_CONSUMER: 'watchdog-test',
        INDEXER_STREAMS: stream,
        INDEXER_LABEL_STREAM: '',
        ENABLE_DID_RESOLUTION: 'false',
        METRICS_PORT: '0',
        INDEXER_WATCHDOG_MS: String(WATCHDOG_MS),
        LOG_LEVEL: 'info',
      },
    })
    let log = ''
    child.stdout.on('data', (d: Buffer) => (log += d.toString()))
    child.stderr.on('data', (d: Buffer) => (log += d.toString()))
    let exitCode: number | null | undefined
    const exited = new Promise<void>((resolve) =>
      child.once('exit', (code) => {
        exitCode = code
        resolve()
      }),
    )
    try {
      await waitFor(async () => (await redis.exists(stream)) === 1 && log.includes('indexer started'), 30_000, 'indexer started').catch(
        (err: Error) => {
          throw new Error(`${err.message} (exit code ${String(exitCode)}); its log: ${log.slice(-2000)}`)
        },
      )
      // running normally for longer than the watchdog's exit time: it stays up
      await new Promise((r) => setTimeout(r, 3 * WATCHDOG_MS))
      expect(exitCode, log).toBeUndefined()
      proxy.freeze()
      await waitFor(async () => exitCode !== undefined, 60_000, 'the stuck indexer to exit').catch((err: Error) => {
        throw new Error(`${err.message}; its log: ${log.slice(-3000)}`)
      })
      expect(exitCode).toBe(70)
      expect(log).toMatch(/main loop stalled/)
    } finally {
      if (exitCode === undefined) child.kill('SIGKILL')
      await exited
    }
  }, 150_000)
})
