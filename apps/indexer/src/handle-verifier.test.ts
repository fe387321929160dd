import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolvingHandleVerifier } from './handle-verifier.js'

// A public key (did:key, secp256k1), only for the DID documents to be well formed.
const KEY = 'zQ3shNxoUTb8sMk11VCr7aiJx5RPkC8fPp1hL3MQdkdWmpQGd'

/** A local HTTP server playing PLC directory and handle resolver, as in a local test network. */
describe('resolvingHandleVerifier', () => {
  let server: Server
  let base: string
  const docs = new Map<string, string>() // did → the handle its document claims
  const handles = new Map<string, string>() // handle → did, as /.well-known/atproto-did answers
  const failing = new Set<string>() // handles whose resolution answers 503

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/.well-known/atproto-did') {
        const host = req.headers.host ?? ''
        if (failing.has(host)) return void res.writeHead(503).end('overloaded')
        const did = handles.get(host)
        return void res.writeHead(did ? 200 : 404).end(did ?? 'not found')
      }
      const did = decodeURIComponent((req.url ?? '/').slice(1))
      const handle = docs.get(did)
      if (handle === undefined) return void res.writeHead(404).end('{}')
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          '@context': ['https://www.w3.org/ns/did/v1'],
          id: did,
          alsoKnownAs: [`at://${handle}`],
          verificationMethod: [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: KEY }],
          service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'http://localhost:2583' }],
        }),
      )
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const verifier = () => resolvingHandleVerifier({ plcUrl: base, handleResolverUrl: base, timeoutMs: 2000, cacheTtlMs: 0 })

  it('gives the handle verified both ways, null when the handle does not lead back to the DID', async () => {
    docs.set('did:plc:alice', 'alice.test')
    handles.set('alice.test', 'did:plc:alice')
    expect(await verifier().verify('did:plc:alice', 'alice.test')).toBe('alice.test')
    docs.set('did:plc:mallory', 'alice.test') // claims a handle that is someone else's
    expect(await verifier().verify('did:plc:mallory', 'alice.test')).toBeNull()
    docs.set('did:plc:bob', 'bob.test') // a handle that resolves to nothing
    expect(await verifier().verify('did:plc:bob', 'bob.test')).toBeNull()
  })

  it('keeps the stored handle (undefined) when a resolver fails, instead of erasing it', async () => {
    docs.set('did:plc:carol', 'carol.test')
    handles.set('carol.test', 'did:plc:carol')
    failing.add('carol.test')
    expect(await verifier().verify('did:plc:carol', 'carol.test')).toBeUndefined()
    failing.delete('carol.test')
    expect(await verifier().verify('did:plc:carol', 'carol.test')).toBe('carol.test')
    const plcDown = resolvingHandleVerifier({ plcUrl: 'http://127.0.0.1:1', handleResolverUrl: base, timeoutMs: 500 })
    expect(await plcDown.verify('did:plc:carol', 'carol.test')).toBeUndefined()
  })

  it('answers an identity without a claimed handle (a backfilled repo) from the DID document as it is now, not from the cache', async () => {
    const cached = resolvingHandleVerifier({ plcUrl: base, handleResolverUrl: base, timeoutMs: 2000, cacheTtlMs: 60_000 })
    docs.set('did:plc:dave', 'dave.test')
    handles.set('dave.test', 'did:plc:dave')
    expect(await cached.verify('did:plc:dave', undefined)).toBe('dave.test')
    // the handle changes; the repo is backfilled again (a later synthetic identity event)
    docs.set('did:plc:dave', 'dave2.test')
    handles.set('dave2.test', 'did:plc:dave')
    handles.delete('dave.test')
    expect(await cached.verify('did:plc:dave', undefined)).toBe('dave2.test')
    // a claimed handle is cached: the same claim again within the TTL is not resolved again
    expect(await cached.verify('did:plc:dave', 'dave2.test')).toBe('dave2.test')
    docs.delete('did:plc:dave')
    expect(await cached.verify('did:plc:dave', 'dave2.test')).toBe('dave2.test')
  })
})
