import { afterAll, beforeAll } from 'vitest'
import type { RedisClient } from '@firehose/streams'
import { startBackfiller, type Backfiller } from '../backfiller.js'
import type { BackfillerConfig } from '../config.js'
import { startFakeNetwork, type FakeNetwork } from './fake-network.js'
import { deleteStreams, newRedis, testConfig } from './helpers.js'

export interface FakeNetworkFixture {
  redis: RedisClient
  config: BackfillerConfig
  /** The fake PLC + PDS (set before the suite's tests run). */
  net: FakeNetwork
  /** Start a backfiller on `config`; it is closed after the suite. */
  start(): Promise<Backfiller>
}

/**
 * The set-up most backfiller suites share: a Redis client, a test config whose PLC is a fake
 * network on loopback, and clean-up of the backfiller, the network and the suite's streams.
 */
export function useFakeNetworkBackfiller(overrides: Partial<BackfillerConfig> = {}): FakeNetworkFixture {
  const redis = newRedis()
  const config = testConfig(overrides)
  const started: Backfiller[] = []
  const fx = {
    redis,
    config,
    net: undefined as unknown as FakeNetwork,
    async start() {
      const bf = await startBackfiller(config)
      started.push(bf)
      return bf
    },
  }
  beforeAll(async () => {
    fx.net = await startFakeNetwork()
    config.plcUrl = fx.net.url
  })
  afterAll(async () => {
    for (const bf of started) await bf.close()
    await fx.net?.close()
    await deleteStreams(redis, config.inStream, config.outStream)
    await redis.quit()
  })
  return fx
}
