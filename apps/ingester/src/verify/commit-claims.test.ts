/**
 * A commit's state move is a claim until its events are in Redis. The gate moves a repo's sync
 * state before the commit's events are written (so that of two ingesters reading it from two
 * relays, one writes it); an ingester killed in between left the state past a commit that was
 * never written, and its replay from the stored cursor was refused as `rev-not-newer`: the
 * commit was lost for good (found by the e2e fault run: one like missing after the ingester's
 * SIGKILL). The state now carries who moved it until that ingester confirms the write; a copy
 * of a claimed commit waits for the confirmation, and writes the commit itself when none comes.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { decodeFrame, type FrameBody } from '@firehose/atproto'
import { SyncStateStore } from '@firehose/streams'
import type { IngesterMetrics } from '../metrics.js'
import { buildCommitFrame, buildSignedRepo } from '../test/atproto-testing.js'
import { gateOn } from '../test/gate.js'
import { newRedis, uniqueName } from '../test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

type Signer = Awaited<ReturnType<typeof buildSignedRepo>>['key']

async function signedCommit(
  did: string,
  signer?: { key: Signer; didKey: string },
): Promise<{ body: FrameBody; didKey: string; key: Signer }> {
  // a key and its did:key (the repo itself is not used)
  let key: Signer
  let didKey: string
  if (signer) ({ key, didKey } = signer)
  else {
    const repo = await buildSignedRepo({ did, count: 1 })
    key = repo.key
    didKey = repo.signingKey
  }
  const frame = decodeFrame(
    await buildCommitFrame({
      seq: 7,
      did,
      key,
      ops: [{ action: 'create', collection: 'app.bsky.feed.like', rkey: '3lbclaimaaaaa', record: { $type: 'app.bsky.feed.like' } }],
    }),
  )
  if (frame.kind !== 'message') throw new Error('not a message frame')
  return { body: frame.body, didKey, key }
}

const rewritten = async (m: IngesterMetrics) => (await m.sync.commitsRewritten.get()).values.reduce((n, v) => n + v.value, 0)

describe('sync state claims', () => {
  it('a commit accepted by an ingester killed before writing it is written by the next', async () => {
    const store = new SyncStateStore({ redis, keyPrefix: uniqueName('sync_state') })
    const did = 'did:plc:claimkilledaaaaaaaaaaaaa'
    const { body, didKey } = await signedCommit(did)
    const killed = gateOn(store, didKey)
    // accepted: the state moves on; the process dies before the events reach Redis
    expect(await killed.gate.commit(did, body)).not.toBeNull()
    expect((await store.get(did))?.rev).toBe(body.rev)
    // the restarted ingester replays the frame from its stored cursor
    const restarted = gateOn(store, didKey)
    const accepted = await restarted.gate.commit(did, body)
    expect(accepted).not.toBeNull()
    expect(await rewritten(restarted.metrics)).toBe(1)
    accepted?.confirm(Promise.resolve())
    await accepted?.confirmed
    // confirmed: a third copy is a duplicate
    const third = gateOn(store, didKey)
    expect(await third.gate.commit(did, body)).toBeNull()
    expect(await rewritten(third.metrics)).toBe(0)
  })

  it("a killed ingester's several unconfirmed commits of one repo are all written by the next", async () => {
    // found by the e2e fault run: the rewrite of the older copy removed the claim, which covered
    // the newer commit too, and the newer one's replay was then dropped as confirmed
    const store = new SyncStateStore({ redis, keyPrefix: uniqueName('sync_state') })
    const did = 'did:plc:claimseveralaaaaaaaaaaaa'
    const first = await signedCommit(did)
    const second = await signedCommit(did, first)
    expect(String(second.body.rev) > String(first.body.rev)).toBe(true)
    const killed = gateOn(store, first.didKey)
    expect(await killed.gate.commit(did, first.body)).not.toBeNull()
    expect(await killed.gate.commit(did, second.body)).not.toBeNull()
    const restarted = gateOn(store, first.didKey)
    for (const c of [first, second]) {
      const accepted = await restarted.gate.commit(did, c.body)
      expect(accepted, String(c.body.rev)).not.toBeNull()
      accepted?.confirm(Promise.resolve())
      await accepted?.confirmed
    }
    expect(await rewritten(restarted.metrics)).toBe(2)
    expect(await store.claimOf(did)).toBeNull()
  })

  it('a copy of a commit whose write is confirmed is dropped (one write for two relays)', async () => {
    const store = new SyncStateStore({ redis, keyPrefix: uniqueName('sync_state') })
    const did = 'did:plc:claimconfirmedaaaaaaaaaa'
    const { body, didKey } = await signedCommit(did)
    const first = gateOn(store, didKey, 5_000)
    const second = gateOn(store, didKey, 5_000)
    const accepted = await first.gate.commit(did, body)
    expect(accepted).not.toBeNull()
    // the second relay's copy arrives while the first ingester's write is still in flight
    let landed: () => void = () => undefined
    accepted?.confirm(new Promise<void>((r) => (landed = r)))
    const copy = second.gate.commit(did, body)
    await new Promise((r) => setTimeout(r, 100))
    landed()
    expect(await copy).toBeNull()
    expect(await rewritten(second.metrics)).toBe(0)
  })

  it("a desynchronized repo's dropped commit is remembered (by rev) for its resync to cover", async () => {
    const store = new SyncStateStore({ redis, keyPrefix: uniqueName('sync_state') })
    const did = 'did:plc:claimdesyncedaaaaaaaaaaa'
    const { body, didKey } = await signedCommit(did)
    await store.set(did, { status: 'desynchronized', rev: '3jzfcijpj2z2a', data: null })
    const { gate, metrics } = gateOn(store, didKey)
    expect(await gate.commit(did, body)).toBeNull()
    expect(await store.get(did)).toEqual({ status: 'desynchronized', rev: body.rev, data: null })
    expect((await metrics.sync.commitsDropped.get()).values.find((v) => v.labels.reason === 'desynchronized')?.value).toBe(1)
    // a commit that does not verify on its own (a forged rev far ahead) is not remembered
    const forged = { ...body, rev: '3zzzzzzzzzz2a' }
    expect(await gate.commit(did, forged)).toBeNull()
    expect((await store.get(did))?.rev).toBe(body.rev)
    // and it is counted as what it is: refused (a hostile relay shows whatever the repo's state),
    // not as one more commit dropped while desynchronized
    // (its frame's rev is not the signed commit's)
    expect((await metrics.sync.commitsRefused.get()).values.find((v) => v.labels.reason === 'malformed')?.value).toBe(1)
    expect((await metrics.sync.commitsDropped.get()).values.find((v) => v.labels.reason === 'desynchronized')?.value).toBe(1)
  })

  it('a write that never lands (the producer closed) leaves the claim for the next copy', async () => {
    const store = new SyncStateStore({ redis, keyPrefix: uniqueName('sync_state') })
    const did = 'did:plc:claimrejectedaaaaaaaaaaa'
    const { body, didKey } = await signedCommit(did)
    const closing = gateOn(store, didKey)
    const accepted = await closing.gate.commit(did, body)
    accepted?.confirm(Promise.reject(new Error('producer closed')))
    await accepted?.confirmed
    const next = gateOn(store, didKey)
    expect(await next.gate.commit(did, body)).not.toBeNull()
  })
})
