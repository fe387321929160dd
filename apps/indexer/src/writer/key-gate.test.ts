import { describe, expect, it } from 'vitest'
import type { Prepared, RecordOp } from './prepare.js'
import { KeyGate } from './key-gate.js'
import { WriteSlots } from './write-slots.js'

const op = (index: number, uri: string, also: string[] = [], reads: string[] = []): Prepared => ({
  kind: 'record',
  op: { index, uri, locks: [uri, ...also], sharedLocks: reads } as RecordOp,
})
const uris = (ps: readonly Prepared[]): string[] => ps.map((p) => (p.kind === 'record' ? p.op.uri : ''))

/** `kept`'s kept-back ops stay blocked when `kept` itself is released, and go once `blocker` is. */
async function expectFreedBy(gate: KeyGate, kept: ReturnType<KeyGate['split']>, blocker: ReturnType<KeyGate['split']>): Promise<void> {
  let free = false
  const waiting = gate.waitFor(kept.blockers).then(() => (free = true))
  gate.release(kept.keys)
  await Promise.resolve()
  expect(free).toBe(false)
  gate.release(blocker.keys)
  await waiting
}

describe('KeyGate', () => {
  it('keeps back the ops of uris another batch holds, and lets them go when released', async () => {
    const gate = new KeyGate()
    const a = gate.split([op(0, 'at://a/x/1'), op(1, 'at://a/x/2'), { kind: 'ignored', index: 2 }])
    expect(a.now).toHaveLength(3)
    const b = gate.split([op(0, 'at://a/x/2'), op(1, 'at://a/x/3'), op(2, 'at://a/x/2')])
    expect(uris(b.now)).toEqual(['at://a/x/3'])
    expect(b.later).toHaveLength(2)
    await expectFreedBy(gate, b, a)
    expect(gate.split(b.later).now).toHaveLength(2)
  })

  it("also keeps back an op whose other lock (a gate's post) another batch holds", () => {
    const gate = new KeyGate()
    const post = 'at://a/app.bsky.feed.post/1'
    gate.split([op(0, post)])
    const b = gate.split([op(0, 'at://a/app.bsky.feed.threadgate/1', [post]), op(1, 'at://a/x/9')])
    expect(uris(b.later)).toEqual(['at://a/app.bsky.feed.threadgate/1'])
    expect(b.keys.written).toEqual(['at://a/x/9'])
  })
})

describe('KeyGate: reads (shared locks)', () => {
  const post = 'at://did:a/app.bsky.feed.post/1'
  const reply = (n: number): Prepared => op(n, `at://did:b/app.bsky.feed.post/${n}`, [], [post])

  it('keeps back a reply whose parent another in-flight batch is writing, until that batch is done', async () => {
    const gate = new KeyGate()
    const a = gate.split([op(0, post)])
    const b = gate.split([reply(10), op(11, 'at://did:b/x/11')])
    expect(uris(b.now)).toEqual(['at://did:b/x/11'])
    expect(uris(b.later)).toEqual(['at://did:b/app.bsky.feed.post/10'])
    await expectFreedBy(gate, b, a)
    expect(gate.split(b.later).now).toHaveLength(1)
  })

  it('lets a kept-back write go once the readers it waited for are done, whatever newer readers hold (no starvation)', async () => {
    const gate = new KeyGate()
    const a = gate.split([reply(10)])
    const w = gate.split([op(0, post)])
    expect(w.later).toHaveLength(1)
    const c = gate.split([reply(30)]) // a newer reader of the same post, still in flight
    expect(c.now).toHaveLength(1)
    gate.release(a.keys)
    await gate.waitFor(w.blockers)
    // the second round keeps nothing back: the write waits on Postgres's lock queue, if at all
    expect(gate.split(w.later).later).toHaveLength(1) // (c still reads it)
    expect(gate.split(w.later, false).now).toHaveLength(1)
  })

  it('keeps back the write of a uri an in-flight batch reads; readers do not block each other', () => {
    const gate = new KeyGate()
    gate.split([reply(10)])
    const b = gate.split([reply(20), op(0, post)])
    expect(uris(b.now)).toEqual(['at://did:b/app.bsky.feed.post/20'])
    expect(uris(b.later)).toEqual([post])
  })

  it('leaves reads out when asked (bulk mode): only writes of the same uri are kept back', () => {
    const gate = new KeyGate()
    gate.split([op(0, post)], true, false)
    const b = gate.split([reply(10), op(1, post)], true, false)
    expect(uris(b.now)).toEqual(['at://did:b/app.bsky.feed.post/10'])
    expect(uris(b.later)).toEqual([post])
  })

  it('lets a batch that writes a uri and reads it in the same batch go at once', () => {
    const gate = new KeyGate()
    expect(gate.split([op(0, post), reply(10)]).now).toHaveLength(2)
  })
})

describe('WriteSlots', () => {
  it('runs at most max functions at once, in arrival order', async () => {
    const slots = new WriteSlots(2)
    let running = 0
    let peak = 0
    const order: number[] = []
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        slots.run(async () => {
          running++
          peak = Math.max(peak, running)
          order.push(i)
          await new Promise((r) => setTimeout(r, 5))
          running--
        }),
      ),
    )
    expect(peak).toBe(2)
    expect(order).toEqual([0, 1, 2, 3, 4, 5])
    expect(() => new WriteSlots(0)).toThrow('max must be a positive integer')
  })
})
