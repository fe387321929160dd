import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Secp256k1PrivateKeyExportable } from '@atcute/crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IdentityError } from './errors.js'
import { createIdResolver } from './identity.js'

/** A real local HTTP server playing PLC directory and handle resolver (as in local test networks). */
describe('identity over http:// local peers', () => {
  let server: Server
  let base: string
  let didKey: string
  const docs = new Map<string, unknown>()
  const handles = new Map<string, string>()

  const doc = (did: string, opts: { pds?: string | null; key?: string | null; handle?: string }) => ({
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    id: did,
    alsoKnownAs: opts.handle ? [`at://${opts.handle}`] : [],
    verificationMethod:
      opts.key === null
        ? []
        : [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: (opts.key ?? didKey).slice('did:key:'.length) }],
    service:
      opts.pds === null
        ? []
        : [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: opts.pds ?? 'http://localhost:2583' }],
  })

  beforeAll(async () => {
    didKey = await (await Secp256k1PrivateKeyExportable.createKeypair()).exportPublicKey('did')
    server = createServer((req, res) => {
      if (req.url === '/.well-known/atproto-did') {
        if (req.headers.host === 'overloaded.test') return void res.writeHead(503).end('try later')
        const did = handles.get(req.headers.host ?? '')
        res.writeHead(did ? 200 : 404).end(did ?? 'not found')
        return
      }
      const found = docs.get(decodeURIComponent((req.url ?? '/').slice(1)))
      if (!found) return void res.writeHead(404).end('{}')
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(found))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    docs.set('did:plc:alice', doc('did:plc:alice', { handle: 'alice.test' }))
    docs.set('did:plc:nohandle', doc('did:plc:nohandle', {}))
    docs.set('did:plc:nopds', doc('did:plc:nopds', { pds: null }))
    docs.set('did:plc:nokey', doc('did:plc:nokey', { key: null }))
    handles.set('alice.test', 'did:plc:alice')
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const resolver = () => createIdResolver({ plcUrl: base, timeoutMs: 2000, handleResolverUrl: base })
  const failure = async (did: string, r = resolver()) => {
    const err = await r.resolveRepoIdentity(did).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(IdentityError)
    return err as IdentityError
  }

  it('resolves PDS, signing key and handle from an http:// PLC', async () => {
    expect(await resolver().resolveRepoIdentity('did:plc:alice')).toEqual({
      did: 'did:plc:alice',
      pds: 'http://localhost:2583',
      signingKey: didKey,
      handle: 'alice.test',
    })
    expect(await resolver().resolveRepoIdentity('did:plc:nohandle')).toEqual({
      did: 'did:plc:nohandle',
      pds: 'http://localhost:2583',
      signingKey: didKey,
    })
  })

  it('names what is missing', async () => {
    expect((await failure('did:plc:unknown')).reason).toBe('not-found')
    expect((await failure('did:plc:nopds')).reason).toBe('no-pds')
    expect((await failure('did:plc:nokey')).reason).toBe('no-key')
    expect((await failure('not-a-did')).reason).toBe('bad-did')
    const down = createIdResolver({ plcUrl: 'http://127.0.0.1:1', timeoutMs: 500 })
    expect((await failure('did:plc:alice', down)).reason).toBe('resolve-failed')
  })

  it("with @atproto/identity's SSRF-protected fetch, http:// peers are refused", async () => {
    const safe = createIdResolver({ plcUrl: base, timeoutMs: 2000, ssrfProtection: true })
    expect((await failure('did:plc:alice', safe)).reason).toBe('resolve-failed')
  })

  it('resolves handles through HANDLE_RESOLVER_URL with a Host header', async () => {
    expect(await resolver().resolveHandle('alice.test')).toBe('did:plc:alice')
    expect(await resolver().resolveHandle('bob.test')).toBeUndefined()
    // a failure of the resolver is not an answer about the handle
    await expect(resolver().resolveHandle('overloaded.test')).rejects.toThrow(/could not resolve handle overloaded.test: status 503/)
    const down = createIdResolver({ plcUrl: base, handleResolverUrl: 'http://127.0.0.1:1', timeoutMs: 500 })
    await expect(down.resolveHandle('alice.test')).rejects.toThrow(/could not resolve handle/)
  })
})
