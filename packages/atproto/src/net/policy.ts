/**
 * The outgoing-request policy for every request to a peer (PDS, did:web host, handle host, PLC,
 * relay): an address of a special class (address.ts) is refused unless it lies in the operator's
 * allow list (ALLOW_PRIVATE_NETWORKS). Checked on the address actually connected to (after DNS),
 * so a name that resolves differently the second time gains nothing.
 */
import { classifyAddress, type AddressClass } from './address.js'
import { NetworkList } from './networks.js'

export interface PeerPolicy {
  /** networks of special addresses that may be contacted anyway (the local test network) */
  readonly allow: NetworkList
  /** called once per refused connection, with the reason class only */
  readonly onRefused?: (reason: AddressClass) => void
}

/** A connection the policy refused. The message names only the class, never the address. */
export class PeerAddressRefusedError extends Error {
  override name = 'PeerAddressRefusedError'
  readonly code = 'PEER_ADDRESS_REFUSED'
  constructor(readonly reason: AddressClass) {
    super(`peer address refused (${reason})`)
  }
}

export const createPeerPolicy = (allow: NetworkList = new NetworkList([]), onRefused?: (reason: AddressClass) => void): PeerPolicy =>
  onRefused ? { allow, onRefused } : { allow }

/** The reason an address is refused, or undefined when it may be contacted. */
export function peerAddressRefusal(policy: PeerPolicy, address: string): AddressClass | undefined {
  const cls = classifyAddress(address)
  if (cls === undefined || policy.allow.includes(address)) return undefined
  return cls
}
