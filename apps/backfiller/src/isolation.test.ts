/** The solo lane: a suspect runs alone, first come first served. */
import { describe, expect, it } from 'vitest'
import { SoloLane } from './isolation.js'

const settle = () => new Promise<void>((r) => setImmediate(r))

describe('SoloLane', () => {
  it('runs shared holders together, a suspect alone, and holds back those after it', async () => {
    const lane = new SoloLane()
    const order: string[] = []
    const a = await lane.acquire(false)
    const b = await lane.acquire(false)
    const suspect = lane.acquire(true).then((r) => {
      order.push('suspect')
      return r
    })
    const c = lane.acquire(false).then((r) => {
      order.push('c')
      return r
    })
    await settle()
    expect(order).toEqual([]) // the suspect waits for a and b; c waits behind the suspect
    a()
    await settle()
    expect(order).toEqual([])
    b()
    await settle()
    expect(order).toEqual(['suspect'])
    expect(lane.isolating).toBe(true)
    const release = await suspect
    release()
    release() // idempotent
    await settle()
    expect(order).toEqual(['suspect', 'c'])
    expect(lane.isolating).toBe(false)
    ;(await c)()
    // a free lane lets a suspect in at once
    const alone = await lane.acquire(true)
    alone()
  })
})
