import { Counter, Gauge, Histogram, type Registry } from '@firehose/service'

/** Identity resolution and background handle checks (handle-verifier.ts, handle-checks.ts). */
export interface IdentityMetrics {
  /** One verification (DID document, then the handle back): ok, error, timeout. */
  lookups: Counter<'outcome'>
  lookupDuration: Histogram
  /** Handles the batches asked of the cache (hit: written at once; miss: checked in the background). */
  cache: Counter<'result'>
  /** Background handle checks: verified, invalid, inactive, superseded, retry, gave-up, deferred. */
  checks: Counter<'outcome'>
  queued: Gauge
  /** Connections to PLC, did:web and handle hosts refused by the outgoing-request policy, by address class. */
  peerRefused: Counter<'reason'>
}

export function createIdentityMetrics(registry: Registry): IdentityMetrics {
  const registers = [registry]
  const peerRefused = new Counter({
    name: 'indexer_peer_requests_refused_total',
    help: 'Connections to peers (PLC, did:web and handle hosts) refused by the outgoing-request policy (ALLOW_PRIVATE_NETWORKS), by address class',
    labelNames: ['reason'],
    registers,
  })
  return {
    peerRefused,
    lookups: new Counter({
      name: 'indexer_identity_lookups_total',
      help: 'Handle verifications (DID document and handle resolution), by outcome (ok|error|timeout)',
      labelNames: ['outcome'],
      registers,
    }),
    lookupDuration: new Histogram({
      name: 'indexer_identity_lookup_duration_seconds',
      help: 'Time of one handle verification',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    cache: new Counter({
      name: 'indexer_identity_cache_total',
      help: 'Handles of identity events asked of the cache by the batches, by result (hit: written at once|miss: checked in the background)',
      labelNames: ['result'],
      registers,
    }),
    checks: new Counter({
      name: 'indexer_handle_checks_total',
      help: 'Background handle checks, by outcome (verified|invalid|inactive: did not resolve while the account is deactivated or taken down, the stored handle kept|superseded|retry|gave-up|deferred|unwritten: the result could not be written, tried again shortly)',
      labelNames: ['outcome'],
      registers,
    }),
    queued: new Gauge({ name: 'indexer_handle_checks_queued', help: 'Handle checks waiting or running in this process', registers }),
  }
}
