import { createSocket, type Socket } from 'node:dgram'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { HandleResolver } from '@atproto/identity'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BoundedHandleResolver } from './handle-dns.js'
import { createIdResolver } from './identity.js'

describe('identity lookups are bounded', () => {
  let dns: Socket
  let queries = 0
  let drip: Server
  beforeAll(async () => {
    // a nameserver that never answers
    dns = createSocket('udp4')
    dns.on('message', () => queries++)
    await new Promise<void>((resolve) => dns.bind(0, '127.0.0.1', resolve))
    // a handle resolver that sends its answer one byte at a time, never finishing
    drip = createServer((_req, res) => {
      res.writeHead(200)
      const timer = setInterval(() => res.write('d'), 50)
      res.on('close', () => clearInterval(timer))
    })
    await new Promise<void>((resolve) => drip.listen(0, '127.0.0.1', resolve))
  })
  afterAll(async () => {
    dns.close()
    drip.closeAllConnections()
    await new Promise<void>((resolve) => drip.close(() => resolve()))
  })

  it('a DNS TXT lookup asks each nameserver once within its timeout, then answers undefined', async () => {
    const resolver = new BoundedHandleResolver(new HandleResolver({ timeout: 200 }), 200, [
      `127.0.0.1:${(dns.address() as AddressInfo).port}`,
    ])
    expect(await resolver.resolveDns('slow.test')).toBeUndefined()
    expect(queries).toBe(1) // c-ares's default would try 4 times, seconds each
  })

  it('a handle resolver that never finishes its answer is given up at the deadline (not kept alive by each byte)', async () => {
    const resolver = createIdResolver({
      plcUrl: 'http://127.0.0.1:1',
      timeoutMs: 300,
      handleResolverUrl: `http://127.0.0.1:${(drip.address() as AddressInfo).port}`,
    })
    await expect(resolver.resolveHandle('drip.test')).rejects.toThrow(/timeout|too large/)
  })
})
