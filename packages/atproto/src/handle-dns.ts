import { Resolver } from 'node:dns/promises'
import { HandleResolver } from '@atproto/identity'

/**
 * A HandleResolver whose DNS TXT lookup (`_atproto.<handle>`) is bounded: @atproto/identity's
 * uses the module-level `dns.resolveTxt`, which waits for c-ares's defaults (seconds per try,
 * several tries per nameserver) whatever its `timeout` says, since that bounds only HTTP. The
 * HTTP lookup and the backup nameservers stay the wrapped resolver's (its fetch, its timeout).
 */
export class BoundedHandleResolver extends HandleResolver {
  private readonly dns: Resolver

  /** `servers`: nameservers to ask (default: the system's). One try per nameserver. */
  constructor(
    private readonly inner: HandleResolver,
    dnsTimeoutMs: number,
    servers?: string[],
  ) {
    super({ timeout: inner.timeout })
    this.dns = new Resolver({ timeout: Math.max(1, Math.ceil(dnsTimeoutMs / 2)), tries: 1 })
    if (servers) this.dns.setServers(servers)
  }

  override async resolveDns(handle: string): Promise<string | undefined> {
    let chunks: string[][]
    try {
      chunks = await this.dns.resolveTxt(`_atproto.${handle}`)
    } catch {
      return undefined
    }
    return this.parseDnsResult(chunks)
  }

  override resolveHttp(handle: string, signal?: AbortSignal): Promise<string | undefined> {
    return this.inner.resolveHttp(handle, signal)
  }

  override resolveDnsBackup(handle: string): Promise<string | undefined> {
    return this.inner.resolveDnsBackup(handle)
  }
}
