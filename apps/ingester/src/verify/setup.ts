/** The shared parts of sync 1.1 verification, from the config (undefined when INGESTER_VERIFY=none). */
import { SyncStateStore, type RedisClient } from '@firehose/streams'
import type { IngesterConfig } from '../config.js'
import type { IngesterMetrics } from '../metrics.js'
import type { SyncVerification } from './live.js'
import { SigningKeys, type KeyResolver } from './signing-keys.js'

export function createSyncVerification(
  config: IngesterConfig,
  redis: RedisClient,
  metrics: IngesterMetrics,
  resolver: KeyResolver,
): SyncVerification | undefined {
  if (config.verify === 'none' || config.relayHosts.length === 0) return undefined
  return {
    level: config.verify,
    store: new SyncStateStore({ redis, keyPrefix: config.syncStatePrefix }),
    keys: new SigningKeys({ resolver, resolutions: metrics.sync.keyResolutions }),
    resyncRetryMs: config.resyncRetryMs,
  }
}
