/** A `CommitGate` for tests: one ingester's gate on a shared store (a restart is a new gate). */
import { Registry } from '@firehose/service'
import type { SyncStateStore } from '@firehose/streams'
import { createIngesterMetrics, type IngesterMetrics } from '../metrics.js'
import { CommitGate } from '../verify/commit-gate.js'
import { SigningKeys } from '../verify/signing-keys.js'
import { quietLogger } from './helpers.js'

export interface TestGate {
  gate: CommitGate
  metrics: IngesterMetrics
  registry: Registry
}

/** `signingKey`: every DID's did:key, or a map of them (an unknown DID has no key). */
export function gateOn(
  store: SyncStateStore,
  signingKey: string | ReadonlyMap<string, string>,
  claimWaitMs = 200,
  enqueueResync: (did: string) => void = () => undefined,
): TestGate {
  const registry = new Registry()
  const metrics = createIngesterMetrics(registry)
  const resolveKey = async (did: string): Promise<string> => {
    const key = typeof signingKey === 'string' ? signingKey : signingKey.get(did)
    if (key === undefined) throw new Error(`no key for ${did}`)
    return key
  }
  const gate = new CommitGate({
    store,
    keys: new SigningKeys({ resolver: { resolveKey } }),
    level: 'full',
    metrics: metrics.sync,
    logger: quietLogger(),
    host: 'relay.test',
    enqueueResync,
    resyncRetryMs: 0,
    claimWaitMs,
  })
  return { gate, metrics, registry }
}
