/**
 * The peer policy on real loopback servers: 127.0.0.1 is allowed (ALLOW_PRIVATE_NETWORKS-style),
 * a canary on 127.0.0.2 is not; it must receive no connection, directly or through a redirect.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BodyTooLargeError } from './body.js'
import { parseNetworkList } from './networks.js'
import { createPeerFetch, TooManyRedirectsError } from './peer-fetch.js'
import { createPeerPolicy, PeerAddressRefusedError } from './policy.js'

const listen = async (server: Server, host: string): Promise<string> => {
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return `http://${host}:${(server.address() as AddressInfo).port}`
}

describe('peer fetch', () => {
  let canaryConnections = 0
  const canary = createServer((_req, res) => res.end('secret'))
  canary.on('connection', () => canaryConnections++)
  let canaryUrl = ''
  let okUrl = ''
  const ok = createServer((req, res) => {
    if (req.url === '/to-canary') return void res.writeHead(302, { location: `${canaryUrl}/x` }).end()
    if (req.url === '/loop') return void res.writeHead(302, { location: '/loop' }).end()
    if (req.url === '/hop') return void res.writeHead(307, { location: '/hello' }).end()
    if (req.url === '/big') return void res.end(Buffer.alloc(5000, 97))
    if (req.url === '/big-chunked') {
      res.write(Buffer.alloc(3000, 97))
      setTimeout(() => res.end(Buffer.alloc(3000, 97)), 10)
      return
    }
    res.end('hello')
  })
  const refused: string[] = []
  const policy = createPeerPolicy(parseNetworkList('127.0.0.1/32'), (r) => refused.push(r))
  const peerFetch = createPeerFetch(policy, { maxBodyBytes: 4096, maxRedirects: 2 })

  beforeAll(async () => {
    canaryUrl = await listen(canary, '127.0.0.2')
    okUrl = await listen(ok, '127.0.0.1')
  })
  afterAll(async () => {
    canary.closeAllConnections()
    ok.closeAllConnections()
    await new Promise((r) => canary.close(r))
    await new Promise((r) => ok.close(r))
  })

  it('fetches from an allowed address, following a redirect', async () => {
    expect(await (await peerFetch(`${okUrl}/hop`)).text()).toBe('hello')
  })

  it('refuses an address outside the allow list, and one reached by a redirect: the canary sees no connection', async () => {
    const direct = await peerFetch(`${canaryUrl}/`).catch((e: unknown) => e)
    expect((direct as Error).cause).toBeInstanceOf(PeerAddressRefusedError)
    const redirected = await peerFetch(`${okUrl}/to-canary`).catch((e: unknown) => e)
    expect((redirected as Error).cause).toBeInstanceOf(PeerAddressRefusedError)
    const viaName = await peerFetch(`http://localhost:${new URL(canaryUrl).port}/`).catch((e: unknown) => e)
    expect(viaName).toBeInstanceOf(Error) // localhost is 127.0.0.1 (nothing listens on that port) or ::1 (refused)
    expect(canaryConnections).toBe(0)
    expect(refused.slice(0, 2)).toEqual(['loopback', 'loopback'])
  })

  it('with an empty allow list, refuses loopback altogether', async () => {
    const strict = createPeerFetch(createPeerPolicy())
    const err = await strict(`${okUrl}/`).catch((e: unknown) => e)
    expect(((err as Error).cause as PeerAddressRefusedError).reason).toBe('loopback')
  })

  it('bounds redirects and bodies', async () => {
    await expect(peerFetch(`${okUrl}/loop`)).rejects.toBeInstanceOf(TooManyRedirectsError)
    await expect(peerFetch(`${okUrl}/hop`, { redirect: 'error' })).rejects.toThrow(/redirect/)
    await expect(peerFetch(`${okUrl}/big`)).rejects.toBeInstanceOf(BodyTooLargeError)
    const res = await peerFetch(`${okUrl}/big-chunked`)
    await expect(res.text()).rejects.toBeInstanceOf(BodyTooLargeError)
  })
})
