import { describe, expect, it } from 'vitest'
import { hostBaseUrl, HostUrlError } from './host-url.js'

describe('hostBaseUrl', () => {
  it('gives one base URL form in the family asked, TLS kept, bare host names meaning TLS', () => {
    expect(hostBaseUrl('bsky.network', 'ws')).toBe('wss://bsky.network')
    expect(hostBaseUrl('bsky.network', 'http')).toBe('https://bsky.network')
    expect(hostBaseUrl('https://pds.example.com/', 'ws')).toBe('wss://pds.example.com')
    expect(hostBaseUrl('wss://relay.example.com/x//', 'http')).toBe('https://relay.example.com/x')
    expect(hostBaseUrl('ws://127.0.0.1:1234', 'http')).toBe('http://127.0.0.1:1234')
    expect(hostBaseUrl('http://localhost:2583', 'ws')).toBe('ws://localhost:2583')
  })
  it('refuses other schemes, queries and non-URLs, saying which', () => {
    expect(() => hostBaseUrl('ftp://x', 'http')).toThrow(new HostUrlError('ftp://x', 'scheme', 'ftp:'))
    expect(() => hostBaseUrl('wss://x', 'http', ['https:', 'http:'])).toThrow(/uses wss:/)
    expect(() => hostBaseUrl('https://x/?a=1', 'http')).toThrow(/is not a host or URL/)
    expect(() => hostBaseUrl('http://[bad', 'http')).toThrow(HostUrlError)
  })
})
