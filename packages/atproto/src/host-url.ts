/**
 * Hosts as operators write them (`bsky.network`, `https://pds.example.com/`, `wss://relay/`) and
 * as jobs carry them, turned into one base URL form: scheme, host, path without trailing slash.
 * One function for the ingester's relay and labeler hosts, the backfiller's job hosts and the
 * ops CLI's `--host` / `--pds`.
 */

const SCHEMES = ['https:', 'http:', 'wss:', 'ws:'] as const
export type HostScheme = (typeof SCHEMES)[number]

export class HostUrlError extends Error {
  override name = 'HostUrlError'
  constructor(
    readonly host: string,
    /** `invalid`: not a URL (or one with a query or fragment); `scheme`: a scheme not accepted. */
    readonly reason: 'invalid' | 'scheme',
    /** The scheme given, when `reason` is `scheme`. */
    readonly protocol?: string,
  ) {
    super(reason === 'scheme' ? `"${host}" uses ${protocol ?? '?'}` : `"${host}" is not a host or URL`)
  }
}

/**
 * `host` → its base URL in the `kind` family: `http` gives `https://` / `http://`, `ws` gives
 * `wss://` / `ws://`; TLS is kept across families (`wss:` ↔ `https:`), a bare host name means
 * TLS. `accept`: the schemes allowed as given (default all four). Throws HostUrlError.
 */
export function hostBaseUrl(host: string, kind: 'http' | 'ws', accept: readonly HostScheme[] = SCHEMES): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(host) ? host : `https://${host}`
  let u: URL
  try {
    u = new URL(withScheme)
  } catch {
    throw new HostUrlError(host, 'invalid')
  }
  if (!(accept as readonly string[]).includes(u.protocol)) throw new HostUrlError(host, 'scheme', u.protocol)
  if (u.search || u.hash) throw new HostUrlError(host, 'invalid')
  const tls = u.protocol === 'https:' || u.protocol === 'wss:'
  const scheme = kind === 'http' ? (tls ? 'https:' : 'http:') : tls ? 'wss:' : 'ws:'
  return `${scheme}//${u.host}${u.pathname.replace(/\/+$/, '')}`
}
