import { describe, expect, it } from 'vitest'
import type { Prepared, RecordOp } from './prepare.js'
import { KeyGate } from './key-gate.js'
import { WriteSlots } from './write-slots.js'

const op = (index: number, uri: string, also: string[] = []): Prepared => ({
  kind: 'record',
  op: { index, uri, locks: [uri, ...also] } as RecordOp,
})

describe('KeyGate', () => {
  it('keeps back the ops of uris another batch holds, and lets them go when released', async () => {
    const gate = new KeyGate()
    const a = gate.split([op(0, 'at://a/x/1'), op(1, 'at://a/x/2'), { kind: 'ignored', index: 2 }])
    expect(a.now).toHaveLength(3)
    const b = gate.split([op(0, 'at://a/x/2'), op(1, 'at://a/x/3'), op(2, 'at://a/x/2')])
    expect(b.now.map((p) => (p.kind === 'record' ? p.op.uri : ''))).toEqual(['at://a/x/3'])
    expect(b.later).toHaveLength(2)
    let free = false
    const waiting = gate.waitFree(b.later).then(() => (free = true))
    gate.release(b.keys)
    await Promise.resolve()
    expect(free).toBe(false)
    gate.release(a.keys)
    await waiting
    expect(gate.split(b.later).now).toHaveLength(2)
  })

  it("also keeps back an op whose other lock (a gate's post) another batch holds", () => {
    const gate = new KeyGate()
    const post = 'at://a/app.bsky.feed.post/1'
    gate.split([op(0, post)])
    const b = gate.split([op(0, 'at://a/app.bsky.feed.threadgate/1', [post]), op(1, 'at://a/x/9')])
    expect(b.later.map((p) => (p.kind === 'record' ? p.op.uri : ''))).toEqual(['at://a/app.bsky.feed.threadgate/1'])
    expect(b.keys).toEqual(['at://a/x/9'])
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
