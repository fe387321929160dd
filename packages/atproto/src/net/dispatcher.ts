/**
 * An undici dispatcher that applies the peer policy at connect time: the host name is resolved
 * here, each address is checked, and the socket is opened to the checked address (TLS still
 * verifies the name). Every connection goes through it, so every redirect hop is checked too.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { Agent, buildConnector, type Dispatcher } from 'undici'
import { peerAddressRefusal, PeerAddressRefusedError, type PeerPolicy } from './policy.js'

export interface PeerDispatcherOptions {
  /** TCP (and TLS) connect timeout */
  connectTimeoutMs?: number
  /** idle keep-alive sockets are closed after this long */
  keepAliveTimeoutMs?: number
}

export function createPeerDispatcher(policy: PeerPolicy, options: PeerDispatcherOptions = {}): Dispatcher {
  const connect = buildConnector({ timeout: options.connectTimeoutMs ?? 10_000 })
  return new Agent({
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
    connect: (opts, callback) => {
      checkedAddress(policy, opts.hostname).then(
        (address) => {
          const servername = opts.servername ?? (isIP(bareHost(opts.hostname)) ? undefined : bareHost(opts.hostname))
          connect({ ...opts, hostname: address, ...(servername ? { servername } : {}) }, callback)
        },
        (err: Error) => callback(err, null),
      )
    },
  })
}

const bareHost = (hostname: string): string => (hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname)

/** The first address of `hostname` the policy allows; throws PeerAddressRefusedError when none is. */
export async function checkedAddress(policy: PeerPolicy, hostname: string): Promise<string> {
  const host = bareHost(hostname)
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address)
  let refused: PeerAddressRefusedError | undefined
  for (const address of addresses) {
    const reason = peerAddressRefusal(policy, address)
    if (reason === undefined) return address
    refused ??= new PeerAddressRefusedError(reason)
  }
  if (!refused) throw new Error(`no address for ${host}`)
  policy.onRefused?.(refused.reason)
  throw refused
}
