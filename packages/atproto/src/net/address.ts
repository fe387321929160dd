/**
 * Which IP addresses a peer may never make us contact: the special-purpose ranges of IANA's
 * registries (RFC 6890 and successors), grouped into a few reason classes. An IPv4 address
 * embedded in IPv6 (v4-mapped `::ffff:a.b.c.d`, v4-compatible `::a.b.c.d`) is judged as IPv4.
 */
import { BlockList, isIP } from 'node:net'

/** Why an address is refused: the only detail a refusal ever names. */
export type AddressClass = 'loopback' | 'private' | 'link-local' | 'cgnat' | 'multicast' | 'unspecified' | 'reserved'

export const ADDRESS_CLASSES: readonly AddressClass[] = [
  'loopback',
  'private',
  'link-local',
  'cgnat',
  'multicast',
  'unspecified',
  'reserved',
]

const RANGES: Record<AddressClass, string[]> = {
  unspecified: ['0.0.0.0/8', '::/128'],
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  'link-local': ['169.254.0.0/16', 'fe80::/10'],
  cgnat: ['100.64.0.0/10'],
  multicast: ['224.0.0.0/4', 'ff00::/8'],
  reserved: [
    '192.0.0.0/24', // IETF protocol assignments
    '192.0.2.0/24',
    '198.51.100.0/24',
    '203.0.113.0/24',
    '2001:db8::/32', // documentation
    '198.18.0.0/15', // benchmarking
    '240.0.0.0/4', // reserved, and 255.255.255.255 broadcast
    '64:ff9b::/96',
    '64:ff9b:1::/48', // NAT64: may translate to any IPv4 address
    '100::/64', // discard
    '2001::/23', // IETF protocol assignments (Teredo, ORCHID…)
    '2002::/16', // 6to4: embeds an IPv4 address
    'fec0::/10', // deprecated site-local
  ],
}

const LISTS: [AddressClass, BlockList][] = ADDRESS_CLASSES.map((cls) => [cls, blockListOf(RANGES[cls])])

function blockListOf(cidrs: string[]): BlockList {
  const list = new BlockList()
  for (const c of cidrs) {
    const [net, bits] = c.split('/') as [string, string]
    list.addSubnet(net, Number(bits), isIP(net) === 6 ? 'ipv6' : 'ipv4')
  }
  return list
}

/** An IP address in canonical family form: IPv4 embedded in IPv6 comes out as IPv4. Throws on a non-IP. */
export function normalizeAddress(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address
  const v = isIP(bare)
  if (v === 4) return { address: bare, family: 'ipv4' }
  if (v !== 6) throw new Error('not an IP address')
  const embedded = embeddedIpv4(bare)
  return embedded ? { address: embedded, family: 'ipv4' } : { address: bare.toLowerCase(), family: 'ipv6' }
}

/** `::ffff:a.b.c.d`, `::ffff:xxxx:xxxx`, `::a.b.c.d` (not `::` nor `::1`) → `a.b.c.d`. */
function embeddedIpv4(v6: string): string | undefined {
  const groups = expandIpv6(v6)
  if (!groups) return undefined
  const zeros = groups.slice(0, 5).every((g) => g === 0)
  const mapped = zeros && groups[5] === 0xffff
  const compatible = zeros && groups[5] === 0 && (groups[6]! !== 0 || groups[7]! > 1)
  if (!mapped && !compatible) return undefined
  const hi = groups[6]!
  const lo = groups[7]!
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
}

/** Eight 16-bit groups of an IPv6 address (valid per isIP), or undefined. */
function expandIpv6(v6: string): number[] | undefined {
  let s = v6.split('%')[0] as string
  const lastColon = s.lastIndexOf(':')
  const tail = s.slice(lastColon + 1)
  if (tail.includes('.')) {
    const b = tail.split('.').map(Number)
    s = `${s.slice(0, lastColon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`
  }
  const [head, rest] = s.split('::') as [string, string | undefined]
  const h = head === '' ? [] : head.split(':')
  const r = rest === undefined || rest === '' ? [] : rest.split(':')
  const fill = rest === undefined ? 0 : 8 - h.length - r.length
  const groups = [...h, ...Array<string>(fill).fill('0'), ...r].map((g) => parseInt(g, 16))
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined
}

/** The special class of an IP address, or undefined for an ordinary (global unicast) one. */
export function classifyAddress(address: string): AddressClass | undefined {
  const a = normalizeAddress(address)
  for (const [cls, list] of LISTS) if (list.check(a.address, a.family)) return cls
  return undefined
}
