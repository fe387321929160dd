import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { CloseError, closeOnce, runCloseSteps } from './close-steps.js'
import { createLogger } from './logger.js'

function capture() {
  const lines: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>)
      cb()
    },
  })
  return { logger: createLogger('test', 'info', sink), lines }
}

describe('close steps', () => {
  it('runs every step in order; a failing one is logged by name and does not skip the others', async () => {
    const { logger, lines } = capture()
    const ran: string[] = []
    const failed = await runCloseSteps(
      [
        { name: 'a', run: () => ran.push('a') },
        false,
        {
          name: 'b',
          run: async () => {
            ran.push('b')
            throw new Error('b broke')
          },
        },
        undefined,
        { name: 'c', run: async () => ran.push('c') },
      ],
      logger,
    )
    expect(ran).toEqual(['a', 'b', 'c'])
    expect(failed).toEqual(['b'])
    expect(lines.map((l) => [l.step, l.msg])).toEqual([['b', 'close step "b" failed']])
  })

  it('closeOnce runs the steps once and rejects with the failed names', async () => {
    const { logger } = capture()
    let runs = 0
    const close = closeOnce(logger, () => [
      { name: 'count', run: () => runs++ },
      {
        name: 'db',
        run: () => {
          throw new Error('no')
        },
      },
    ])
    const first = close()
    expect(close()).toBe(first)
    await expect(first).rejects.toEqual(new CloseError(['db']))
    await expect(close()).rejects.toBeInstanceOf(CloseError)
    expect(runs).toBe(1)
  })
})
