// A tiny app over runService, spawned by runtime.test.ts. FIXTURE_MODE: `steps` (healthy; its
// close runs three named steps, the second throws), `stuck` (its main loop never goes round),
// `hang` (its close never ends). Each step appends its name to FIXTURE_TRACE (a file) as it runs.
import { appendFileSync } from 'node:fs'
import { closeOnce, parseConfig, runService } from '../../dist/index.js'

await runService({
  name: 'fixture',
  loadConfig: () =>
    parseConfig(process.env, (r) => ({
      mode: r.oneOf('FIXTURE_MODE', 'steps', ['steps', 'stuck', 'hang']),
      required: r.required('FIXTURE_REQUIRED'),
      stallMs: r.int(r.renamed('FIXTURE_STALL_MS', 'FIXTURE_STALL'), 200, { min: 1 }),
      trace: r.optStr('FIXTURE_TRACE'),
      deprecated: r.deprecated,
    })),
  logLevel: () => 'info',
  watchdogMs: (c) => c.stallMs,
  deprecatedVariables: (c) => c.deprecated,
  start: async (config, logger) => {
    // keeps the process alive as a server would
    const keepAlive = setInterval(() => undefined, 60_000)
    const trace = (step) => config.trace && appendFileSync(config.trace, `${step}\n`)
    logger.info({ mode: config.mode }, 'fixture started')
    return {
      healthy: () => config.mode !== 'stuck',
      close: closeOnce(logger, () => [
        { name: 'first', run: () => trace('first') },
        config.mode === 'hang' && {
          name: 'hang',
          run: () => {
            trace('hang')
            return new Promise(() => undefined)
          },
        },
        {
          name: 'second',
          run: () => {
            trace('second')
            throw new Error('boom')
          },
        },
        {
          name: 'third',
          run: () => {
            trace('third')
            clearInterval(keepAlive)
          },
        },
        { name: 'fourth', run: async () => trace('fourth') },
      ]),
    }
  },
})
