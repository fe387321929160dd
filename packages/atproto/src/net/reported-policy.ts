import { ADDRESS_CLASSES, type AddressClass } from './address.js'
import type { NetworkList } from './networks.js'
import { createPeerPolicy, type PeerPolicy } from './policy.js'

/** The `<app>_peer_requests_refused_total{reason}` counter (a prom-client Counter<'reason'>). */
export interface RefusalCounter {
  inc(labels: { reason: AddressClass }, value?: number): void
}

/** The logger's warn (pino's signature). */
export interface RefusalLog {
  warn(obj: { reason: AddressClass }, msg: string): void
}

/**
 * The peer policy as every app uses it: each refused connection counted by address class (the
 * counter starts at 0 for every class, so dashboards and alerts see the series) and logged as
 * one warn line with the class only, never the address.
 */
export function createReportedPeerPolicy(allow: NetworkList, refused: RefusalCounter, logger: RefusalLog): PeerPolicy {
  for (const reason of ADDRESS_CLASSES) refused.inc({ reason }, 0)
  return createPeerPolicy(allow, (reason) => {
    refused.inc({ reason })
    logger.warn({ reason }, 'peer address refused by the outgoing-request policy')
  })
}
