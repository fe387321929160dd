/**
 * A desynchronized repo's commits while its resync runs. They used to be dropped, their newest
 * rev kept in the state so that a snapshot older than it would not end the desynchronization: a
 * repo that commits faster than its CAR can be fetched and verified (the busy accounts) then
 * failed every resync as snapshot_behind, and stayed desynchronized for good. Now each commit
 * that verifies on its own is written, and the state records the run of those that chain onto
 * each other, which a snapshot reaching the run's start completes (backfiller, sync-state.ts).
 */
import { afterAll, describe, expect, it } from 'vitest'
import { decodeFrame, verifyCommitMessage, type FrameBody } from '@firehose/atproto'
import { SyncStateStore } from '@firehose/streams'
import { buildCommitChain, buildSignedRepo } from '../test/atproto-testing.js'
import { gateOn } from '../test/gate.js'
import { metricValue, newRedis, uniqueName } from '../test/helpers.js'

const redis = newRedis()
afterAll(() => redis.quit())

const bodyOf = (frame: Uint8Array): FrameBody => {
  const f = decodeFrame(frame)
  if (f.kind !== 'message') throw new Error('not a message frame')
  return f.body
}

describe('a desynchronized repo while its resync runs', () => {
  it('writes the commits that verify on their own, as a run the resync can complete; refuses forged ones; a copy is written once', async () => {
    const did = 'did:plc:desyncrunaaaaaaaaaaaaaaa'
    const { key, signingKey: didKey } = await buildSignedRepo({ did, count: 1 })
    const chain = (await buildCommitChain({ did, key, count: 7 })).map(bodyOf)
    const { key: forger } = await buildSignedRepo({ did, count: 1 })
    const forged = bodyOf((await buildCommitChain({ did, key: forger, count: 1, firstSeq: 99 }))[0]!)
    const store = new SyncStateStore({ redis, keyPrefix: uniqueName('sync_state') })
    const resyncs: string[] = []
    const { gate, registry } = gateOn(store, didKey, 200, (d) => resyncs.push(d))
    const write = async (body: FrameBody) => {
      const accepted = await gate.commit(did, body)
      accepted?.confirm(Promise.resolve())
      await accepted?.confirmed
      return accepted !== null
    }
    const dataOf = (body: FrameBody): Uint8Array => {
      const v = verifyCommitMessage(body, { key: didKey, level: 'signature' })
      if (!v.ok) throw new Error(v.message)
      return v.data
    }

    expect(await write(chain[0]!)).toBe(true)
    expect(await write(chain[1]!)).toBe(true)
    // chain[2] is lost on the way: chain[3] does not chain on, a break (resync enqueued); it is
    // authentic (signature, proof) and starts the run: written
    expect(await write(chain[3]!)).toBe(true)
    expect((await store.get(did))?.status).toBe('desynchronized')
    expect(resyncs).toEqual([did])
    // the next commits verify on their own and chain onto each other: written, in the run
    expect(await write(chain[4]!)).toBe(true)
    expect(await write(chain[5]!)).toBe(true)
    // a forged one (another key) is refused and changes nothing
    expect(await write(forged)).toBe(false)
    const state = await store.get(did)
    expect(state).toEqual({
      status: 'desynchronized',
      rev: chain[5]!.rev,
      data: dataOf(chain[5]!),
      run: { rev: chain[3]!.rev, prevData: dataOf(chain[2]!) },
    })
    const text = await registry.metrics()
    expect(metricValue(text, 'ingester_desynchronized_commits_written_total', { host: 'relay.test' })).toBe(3)
    expect(metricValue(text, 'ingester_repos_desynchronized_total', { reason: 'prev-data-mismatch' })).toBe(1)
    // the gap's commit is not refused: only the forged one is
    expect(metricValue(text, 'ingester_commits_refused_total', { reason: 'prev-data-mismatch' })).toBe(0)
    // another relay's copy of a run commit: written once (its write is confirmed)
    expect(await gateOn(store, didKey).gate.commit(did, chain[5]!)).toBeNull()
    // the resync completes at the run's end (its snapshot reached the run's start): chained on
    await store.set(did, { status: 'active', rev: String(chain[5]!.rev), data: dataOf(chain[5]!) })
    expect(await write(chain[6]!)).toBe(true)
    expect((await store.get(did))?.rev).toBe(chain[6]!.rev)
  })
})
