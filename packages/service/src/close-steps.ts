import type { Logger } from './logger.js'

/** One named part of a shutdown: `run` may be sync or async. */
export interface CloseStep {
  name: string
  run(): unknown
}

/** A close in which some steps failed (each was logged with its name when it failed). */
export class CloseError extends Error {
  override name = 'CloseError'
  constructor(readonly failed: readonly string[]) {
    super(`close steps failed: ${failed.join(', ')}`)
  }
}

/** A step list may hold `false` / `undefined` for parts that are not there (no HTTP server, …). */
export type CloseSteps = readonly (CloseStep | false | undefined | null)[]

/**
 * Run the steps in order, each in its own try/catch: a step that throws is logged with its name
 * and the next ones still run. Resolves to the names of the steps that failed.
 */
export async function runCloseSteps(steps: CloseSteps, logger: Logger): Promise<string[]> {
  const failed: string[] = []
  for (const step of steps) {
    if (!step) continue
    try {
      await step.run()
    } catch (err) {
      failed.push(step.name)
      logger.error({ err, step: step.name }, `close step "${step.name}" failed`)
    }
  }
  return failed
}

/**
 * An idempotent `close()`: the first call runs `steps()` (built then, so they see the state at
 * close time), later calls return the same promise. It rejects with a CloseError naming the
 * failed steps when any failed, after all of them ran.
 */
export function closeOnce(logger: Logger, steps: () => CloseSteps): () => Promise<void> {
  let closing: Promise<void> | undefined
  return () => {
    closing ??= runCloseSteps(steps(), logger).then((failed) => {
      if (failed.length > 0) throw new CloseError(failed)
    })
    return closing
  }
}

/**
 * Wait for every promise (a step that closes many things in parallel closes all of them) and
 * reject with the first failure, if any.
 */
export async function settleAll(tasks: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(tasks)).find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
}
