/**
 * Closing a relay's verification (`LiveVerifier.drain`, then `settled`): every commit this
 * ingester accepted is written and its claim confirmed before Redis is closed, and nothing waits
 * on another ingester. A CI run left one claim behind when two ingesters reading the same PDS
 * through two relays closed together (two-relays.test.ts): the drain waited for the frames in
 * flight for at most 10 s, and a copy of the other ingester's commit could spend most of that
 * waiting for the other's confirmation (up to INGESTER's claim wait, 3 s, per copy); past the
 * limit the producer closed under this ingester's own accepted commits, whose claims stayed.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { decodeFrame, type FrameBody } from '@firehose/atproto'
import { SyncStateStore } from '@firehose/streams'
import { buildCommitFrame, buildSignedRepo } from '../test/atproto-testing.js'
import { gateOn } from '../test/gate.js'
import { newRedis, quietLogger, uniqueName } from '../test/helpers.js'
import { LiveVerifier } from './live.js'
import { SigningKeys } from './signing-keys.js'

const redis = newRedis()
afterAll(() => redis.quit())

async function signedCommit(did: string): Promise<{ body: FrameBody; didKey: string }> {
  const repo = await buildSignedRepo({ did, count: 1 })
  const frame = decodeFrame(
    await buildCommitFrame({
      seq: 7,
      did,
      key: repo.key,
      ops: [{ action: 'create', collection: 'app.bsky.feed.like', rkey: '3lbclosingaaa', record: { $type: 'app.bsky.feed.like' } }],
    }),
  )
  if (frame.kind !== 'message') throw new Error('not a message frame')
  return { body: frame.body, didKey: repo.signingKey }
}

describe('closing the live verification', () => {
  it("does not wait for another ingester's claim, and confirms its own accepted commits before it is settled", async () => {
    const store = new SyncStateStore({ redis, keyPrefix: uniqueName('sync_state') })
    const other = { did: 'did:plc:closingotheraaaaaaaaaaaa', ...(await signedCommit('did:plc:closingotheraaaaaaaaaaaa')) }
    const own = { did: 'did:plc:closingownaaaaaaaaaaaaaa', ...(await signedCommit('did:plc:closingownaaaaaaaaaaaaaa')) }
    const keyOf = new Map([
      [other.did, other.didKey],
      [own.did, own.didKey],
    ])
    const keys = () =>
      new SigningKeys({ resolver: { resolveKey: async (did: string) => keyOf.get(did) ?? Promise.reject(new Error(`no key for ${did}`)) } })
    // the other ingester accepted `other` and has not confirmed its write yet (slow, or dying)
    const { gate: otherGate, metrics } = gateOn(store, keyOf)
    expect(await otherGate.commit(other.did, other.body)).not.toBeNull()

    // this ingester: a claim wait far longer than any test, so a drain that waits for it hangs
    const live = new LiveVerifier(
      { level: 'full', store, keys: keys(), resyncRetryMs: 0, claimWaitMs: 600_000 },
      {
        host: 'relay-b.test',
        logger: quietLogger(),
        metrics: metrics.sync,
        enqueueResync: () => undefined,
        pause: () => undefined,
        resume: () => undefined,
      },
    )
    const done: string[] = []
    // its copy of the other's commit: waits for the other's confirmation
    live.events(
      '#commit',
      other.body,
      other.did,
      async () => undefined,
      () => done.push('other'),
    )
    // its own commit, accepted; the producer writes it only once the close flushes it
    let flush: () => void = () => undefined
    const flushed = new Promise<void>((r) => (flush = r))
    live.events(
      '#commit',
      own.body,
      own.did,
      () => flushed,
      () => done.push('own'),
    )
    await expectEventually(async () => (await store.claimOf(own.did)) !== null)

    await live.drain()
    // the copy gave up (its frame is not done: the cursor stays before it, its replay decides)
    expect(done).toEqual([])
    expect(await store.claimOf(other.did)).not.toBeNull()
    // the producer's close writes the accepted commit; settled once its claim is confirmed
    flush()
    await live.settled()
    expect(await store.claimOf(own.did)).toBeNull()
  })
})

async function expectEventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error('condition never held')
}
