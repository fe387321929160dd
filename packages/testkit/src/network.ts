import { TestNetworkNoAppView } from '@atproto/dev-env'

export { TestNetworkNoAppView }
export type SeedClient = ReturnType<TestNetworkNoAppView['getSeedClient']>

export interface LocalNetwork {
  net: TestNetworkNoAppView
  /** `http://localhost:<port>` of the PDS (also its subscribeRepos / listRepos host). */
  pdsUrl: string
  plcUrl: string
  seed: SeedClient
  close(): Promise<void>
}

/**
 * A real AT Protocol network in-process (`@atproto/dev-env`): a PDS and a PLC directory on
 * loopback ports. Nothing outside this machine is contacted.
 */
export async function startNetwork(): Promise<LocalNetwork> {
  const net = await TestNetworkNoAppView.create({})
  return {
    net,
    pdsUrl: net.pds.url,
    plcUrl: net.plc.url,
    seed: net.getSeedClient(),
    close: () => net.close(),
  }
}

let accountCounter = 0
/** Create an account with a unique handle under `.test`; returns its DID. */
export async function createAccount(seed: SeedClient, name?: string): Promise<{ did: string; handle: string; name: string }> {
  const n = name ?? `user${process.pid}x${++accountCounter}`
  const handle = `${n}.test` as const
  await seed.createAccount(n, { handle, email: `${n}@test.com`, password: 'hunter22' })
  const did = seed.dids[n]
  if (!did) throw new Error(`account ${n} not created`)
  return { did, handle, name: n }
}
