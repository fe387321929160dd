/**
 * The ingester's requests to peers go through the outgoing-request policy of @firehose/atproto:
 * special addresses refused unless in ALLOW_PRIVATE_NETWORKS, every redirect hop checked, bodies
 * bounded. Two fetches share one policy: relay `listRepos` pages, and DID documents (PLC and
 * did:web: the labelers' `#atproto_label` keys, the repos' signing keys). Refusals are counted
 * by address class.
 */
import { createPeerFetch, createReportedPeerPolicy, MAX_DID_DOCUMENT_BYTES, type NetworkList, type PeerFetch } from '@firehose/atproto'
import { Counter, type Logger, type Registry } from '@firehose/service'

/** largest listRepos page read (1000 repos are ~150 kB) */
export const MAX_LIST_REPOS_PAGE_BYTES = 16 * 1024 * 1024

export interface IngesterPeerFetch {
  listRepos: PeerFetch
  documents: PeerFetch
}

export function createIngesterPeerFetch(allow: NetworkList, registry: Registry, logger: Logger): IngesterPeerFetch {
  const refused = new Counter({
    name: 'ingester_peer_requests_refused_total',
    help: 'Connections to peers refused by the outgoing-request policy (ALLOW_PRIVATE_NETWORKS), by address class',
    labelNames: ['reason'],
    registers: [registry],
  })
  const policy = createReportedPeerPolicy(allow, refused, logger)
  return {
    listRepos: createPeerFetch(policy, { maxBodyBytes: MAX_LIST_REPOS_PAGE_BYTES }),
    documents: createPeerFetch(policy, { maxBodyBytes: MAX_DID_DOCUMENT_BYTES }),
  }
}
