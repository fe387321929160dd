/**
 * A list of networks (CIDRs) as an operator writes it: `ALLOW_PRIVATE_NETWORKS=127.0.0.1/32,::1/128`.
 * Parsing is strict (a bad entry throws with a message naming it), so a typo stops the process at
 * start-up instead of silently allowing nothing, or everything.
 */
import { BlockList, isIP } from 'node:net'
import { normalizeAddress } from './address.js'

export class NetworkList {
  private readonly list = new BlockList()
  /** the CIDRs, normalised (`a.b.c.d/n`, `x::y/n`) */
  readonly cidrs: readonly string[]

  constructor(cidrs: readonly string[]) {
    const out: string[] = []
    for (const raw of cidrs) {
      const { net, bits, family } = parseCidr(raw)
      this.list.addSubnet(net, bits, family)
      out.push(`${net}/${bits}`)
    }
    this.cidrs = out
  }

  get empty(): boolean {
    return this.cidrs.length === 0
  }

  /** Whether the address (IPv4 embedded in IPv6 judged as IPv4) lies in one of the networks. */
  includes(address: string): boolean {
    if (this.empty) return false
    const a = normalizeAddress(address)
    return this.list.check(a.address, a.family)
  }
}

/** `a.b.c.d/n` or `x::y/n`; a bare address means the single host (/32, /128). Throws when malformed. */
export function parseCidr(text: string): { net: string; bits: number; family: 'ipv4' | 'ipv6' } {
  const s = text.trim()
  const slash = s.indexOf('/')
  const net = slash < 0 ? s : s.slice(0, slash)
  const v = isIP(net)
  if (v === 0) throw new Error(`"${s}" is not a CIDR (address/prefix)`)
  const max = v === 4 ? 32 : 128
  const bitsText = slash < 0 ? String(max) : s.slice(slash + 1)
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) throw new Error(`"${s}": prefix length must be 0..${max}`)
  return { net, bits: Number(bitsText), family: v === 4 ? 'ipv4' : 'ipv6' }
}

/** A comma-separated list of CIDRs (blank: none). Throws naming the first bad entry. */
export function parseNetworkList(text: string | undefined): NetworkList {
  const parts = (text ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
  return new NetworkList(parts)
}
