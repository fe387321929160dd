import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fetchListReposPage, ListReposError } from './list-repos.js'

describe('fetchListReposPage', () => {
  let server: Server
  let host: string
  // cursor → answer; `loop` answers its own cursor again (a host that would page forever)
  const pages: Record<string, { status?: number; body: string }> = {
    '': { body: JSON.stringify({ cursor: 'p2', repos: [{ did: 'did:plc:a', rev: 'r1', active: true }, { nodid: 1 }, null] }) },
    p2: { body: JSON.stringify({ repos: [{ did: 'did:plc:b', status: 'deactivated', active: false }] }) },
    loop: { body: JSON.stringify({ cursor: 'loop', repos: [{ did: 'did:plc:c' }] }) },
    broken: { status: 502, body: 'upstream <b>down</b>' },
    html: { body: '<html>' },
    norepos: { body: JSON.stringify({ cursor: 'x' }) },
  }
  beforeAll(async () => {
    server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x')
      const page = u.pathname === '/xrpc/com.atproto.sync.listRepos' ? pages[u.searchParams.get('cursor') ?? ''] : undefined
      if (!page || u.searchParams.get('limit') !== '2') return void res.writeHead(404).end()
      res.writeHead(page.status ?? 200, { 'content-type': 'application/json' }).end(page.body)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    host = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('pages by cursor, keeps the repos with a DID, and ends on the last page', async () => {
    const first = await fetchListReposPage(fetch, host, { limit: 2 })
    expect(first).toEqual({ repos: [{ did: 'did:plc:a', rev: 'r1', active: true }], next: 'p2' })
    const last = await fetchListReposPage(fetch, host, { limit: 2, cursor: first.next })
    expect(last).toEqual({ repos: [{ did: 'did:plc:b', status: 'deactivated', active: false }], next: undefined })
  })
  it('ends when the host answers the cursor it was asked with', async () => {
    expect((await fetchListReposPage(fetch, host, { limit: 2, cursor: 'loop' })).next).toBeUndefined()
  })
  it('names the host and what went wrong', async () => {
    const fail = (cursor: string) => fetchListReposPage(fetch, host, { limit: 2, cursor })
    await expect(fail('broken')).rejects.toThrow(new ListReposError(`listRepos on ${host} answered HTTP 502: upstream <b>down</b>`, 502))
    await expect(fail('html')).rejects.toThrow(/did not answer JSON/)
    await expect(fail('norepos')).rejects.toThrow(/answered without a "repos" list/)
    await expect(fetchListReposPage(fetch, 'http://127.0.0.1:1', { limit: 2 })).rejects.toThrow(
      /listRepos on http:\/\/127\.0\.0\.1:1 failed/,
    )
  })
})
