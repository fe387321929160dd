import { TestNetwork } from '@atproto/dev-env'
import type { LocalNetwork } from './network.js'

export { TestNetwork }

export interface AppViewNetwork extends LocalNetwork {
  net: TestNetwork
  /** Postgres schema bsky's AppView indexes into (`appview_<schema>`). */
  appviewSchema: string
  /** The PDS's last sequenced event (0 when none). */
  pdsSeq(): Promise<number>
  /** The last seq bsky's RepoSubscription has fully indexed (0 when none). */
  appviewSeq(): Promise<number>
  /** Let bsky's indexer finish what it has read (its in-memory runner and background queue). */
  appviewProcessAll(): Promise<void>
}

export interface AppViewNetworkOptions {
  /** A direct Postgres URL (bsky's Database sets `search_path` per connection: no pgbouncer). */
  dbPostgresUrl: string
  /** bsky, bsync and ozone use `appview_<schema>`, `bsync_<schema>`, `ozone_<schema>`. */
  dbPostgresSchema: string
  /** `host:port` of a Redis (dev-env asserts `REDIS_HOST`; bsky does not use it). */
  redisHost: string
}

/**
 * `@atproto/dev-env`'s TestNetwork: a PLC directory, a PDS and bsky's AppView, whose data plane
 * indexes the PDS's firehose with bsky's own RepoSubscription + IndexingService into Postgres
 * (plus the bsync and ozone it needs). Everything listens on loopback.
 */
export async function startNetworkWithAppView(opts: AppViewNetworkOptions): Promise<AppViewNetwork> {
  // dev-env reads the Redis host from the environment only
  process.env.REDIS_HOST ??= opts.redisHost
  const net = await TestNetwork.create({ dbPostgresUrl: opts.dbPostgresUrl, dbPostgresSchema: opts.dbPostgresSchema })
  const sub = net.bsky.sub
  return {
    net,
    pdsUrl: net.pds.url,
    plcUrl: net.plc.url,
    seed: net.getSeedClient(),
    appviewSchema: `appview_${opts.dbPostgresSchema}`,
    pdsSeq: async () => (await net.pds.ctx.sequencer.curr()) ?? 0,
    appviewSeq: async () => (await sub.getCursor()) ?? 0,
    appviewProcessAll: () => sub.processAll(),
    close: () => net.close(),
  }
}
