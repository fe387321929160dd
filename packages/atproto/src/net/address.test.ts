import { describe, expect, it } from 'vitest'
import { classifyAddress } from './address.js'
import { parseCidr, parseNetworkList } from './networks.js'

describe('classifyAddress', () => {
  it('names the class of each special range, v4 and v6, IPv4 inside IPv6 included', () => {
    const cases: [string, string | undefined][] = [
      ['127.0.0.1', 'loopback'],
      ['127.9.9.9', 'loopback'],
      ['::1', 'loopback'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['[::1]', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['fd00::1', 'private'],
      ['::ffff:10.0.0.1', 'private'],
      ['169.254.169.254', 'link-local'],
      ['fe80::1', 'link-local'],
      ['::ffff:169.254.169.254', 'link-local'],
      ['100.64.0.1', 'cgnat'],
      ['100.127.255.255', 'cgnat'],
      ['224.0.0.1', 'multicast'],
      ['ff02::1', 'multicast'],
      ['0.0.0.0', 'unspecified'],
      ['::', 'unspecified'],
      ['255.255.255.255', 'reserved'],
      ['64:ff9b::a00:1', 'reserved'],
      ['2002:7f00:1::', 'reserved'],
      ['192.0.2.1', 'reserved'],
      ['8.8.8.8', undefined],
      ['172.32.0.1', undefined],
      ['100.128.0.1', undefined],
      ['2606:4700::1111', undefined],
      ['::ffff:8.8.8.8', undefined],
    ]
    for (const [address, cls] of cases) expect(classifyAddress(address), address).toBe(cls)
  })
})

describe('parseNetworkList', () => {
  it('parses CIDRs and bare addresses, and matches IPv4 inside IPv6', () => {
    const list = parseNetworkList(' 127.0.0.1/32, ::1 ,10.0.0.0/8')
    expect(list.cidrs).toEqual(['127.0.0.1/32', '::1/128', '10.0.0.0/8'])
    expect(list.includes('127.0.0.1')).toBe(true)
    expect(list.includes('::ffff:127.0.0.1')).toBe(true)
    expect(list.includes('127.0.0.2')).toBe(false)
    expect(list.includes('10.200.0.1')).toBe(true)
    expect(parseNetworkList('').empty).toBe(true)
  })

  it('refuses malformed entries, naming them', () => {
    expect(() => parseCidr('127.0.0.1/33')).toThrow(/127.0.0.1\/33/)
    expect(() => parseCidr('localhost')).toThrow(/localhost/)
    expect(() => parseNetworkList('127.0.0.1/8,nope')).toThrow(/nope/)
    expect(() => parseCidr('::1/129')).toThrow(/0..128/)
  })
})
