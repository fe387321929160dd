/** `ops sync-state get`: a repo's sync state as the ingesters left it, read from a real Redis. */
import { describe, expect, it } from 'vitest'
import { SyncStateStore } from '@firehose/streams'
import { ops, opsJson } from './test/cli.js'
import { cliTestSetup } from './test/cli-setup.js'

const { redis, name } = cliTestSetup()

const cid = (fill: number): Uint8Array => Uint8Array.from([1, 0x71, 0x12, 0x20, ...new Array<number>(32).fill(fill)])

describe('sync-state get', () => {
  it("shows status, rev, data, a desynchronized repo's run, the claim and the resync lease; a DID without state says so", async () => {
    const prefix = name('sync_state')
    const store = new SyncStateStore({ redis, keyPrefix: prefix })
    const busy = 'did:plc:opssyncstateaaaaaaaaaaa'
    const quiet = 'did:web:quiet.example.com'
    await store.compareAndSet(
      busy,
      null,
      { status: 'desynchronized', rev: '3n3aaaaaaaz22', data: cid(2), run: { rev: '3n3aaaaaaam22', prevData: cid(1) } },
      'a1b2',
    )
    await store.holdResync(busy, 60_000)
    const rows = await opsJson<Array<Record<string, unknown>>>(['sync-state', 'get', busy, quiet, '--prefix', prefix])
    expect(rows[0]).toMatchObject({
      did: busy,
      status: 'desynchronized',
      rev: '3n3aaaaaaaz22',
      run: { from: '3n3aaaaaaam22' },
      claim: 'a1b2',
    })
    expect(String(rows[0]!.data)).toMatch(/^bafyrei/)
    expect(rows[0]!.resyncLeaseMs).toBeGreaterThan(50_000)
    expect(rows[1]).toMatchObject({ did: quiet, status: null, run: null, claim: null, resyncLeaseMs: null })
    await redis.del(store.resyncKey(busy))
    const table = await ops(['sync-state', 'get', quiet, '--prefix', prefix])
    expect(table.code).toBe(0)
    expect(table.stdout).toContain('(no state)')
    const bad = await ops(['sync-state', 'get', 'not-a-did'])
    expect(bad.code).toBe(2)
  })
})
