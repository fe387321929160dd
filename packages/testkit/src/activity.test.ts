import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Activity } from './activity.js'
import { startNetwork, type LocalNetwork } from './network.js'
import { listRepos, readRepo } from './truth.js'

describe('testkit: activity on a real dev-env PDS and ground truth from getRepo', () => {
  let net: LocalNetwork
  beforeAll(async () => {
    net = await startNetwork()
  })
  afterAll(async () => {
    await net.close()
  })

  it('generates activity and reads it back from every repo', async () => {
    const act = new Activity(net.seed, 7)
    await act.createAccounts(3)
    await act.run(60)
    const first = act.dids[0] as string
    await act.deactivate(first)
    const listed = await listRepos(net.pdsUrl)
    expect(listed.map((r) => r.did).sort()).toEqual([...act.dids].sort())
    expect(listed.find((r) => r.did === first)?.active).toBe(false)
    await act.activate(first)
    let posts = 0
    for (const a of act.actors) {
      const repo = await readRepo(net.pdsUrl, a.did)
      const own = repo.records.filter((r) => r.collection === 'app.bsky.feed.post')
      expect(own.length).toBe(a.posts.length)
      expect(repo.records.filter((r) => r.collection === 'app.bsky.feed.like').length).toBe(a.likes.size)
      expect(repo.records.filter((r) => r.collection === 'app.bsky.graph.follow').length).toBe(a.follows.size)
      posts += own.length
    }
    expect(posts).toBeGreaterThan(0)
    expect(Object.values(act.counts).reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(63)
  })
})
