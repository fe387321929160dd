/**
 * One runtime for every long-running app: config (a bad variable → its name on stderr, exit 2),
 * the pino logger, crash handlers, the liveness watchdog (exit 70 when the main loop is stuck),
 * and one graceful shutdown on SIGTERM / SIGINT (a second signal exits at once). An app's
 * `main.ts` is this call and its re-exports.
 */
import { closeOnce } from './close-steps.js'
import { ConfigError, type DeprecatedVariable, type LogLevel } from './config.js'
import { installCrashHandlers, onShutdownSignal, startWatchdog, type Watchdog } from './lifecycle.js'
import { createLogger, type Logger } from './logger.js'

/** What `start` returns: the app's liveness and its (idempotent) close. */
export interface RunningService {
  /** The main loop went round recently: what `/health` reports and the watchdog beats on. */
  healthy(): boolean
  /** Close everything; rejects (CloseError) when a close step failed. */
  close(): Promise<void>
}

export interface ServiceSpec<C> {
  /** The app's name: the logger's `app`, the prefix of the config error on stderr. */
  name: string
  /** Read and validate the environment; throws ConfigError naming every bad variable. */
  loadConfig(): C
  logLevel(config: C): LogLevel
  /** How long the main loop may not go round before `/health` is false (and twice that: exit 70). */
  watchdogMs(config: C): number
  /** Old names of renamed variables the config was read from: one warning each at start. */
  deprecatedVariables?(config: C): readonly DeprecatedVariable[]
  start(config: C, logger: Logger): Promise<RunningService>
  /** A shutdown longer than this exits 1 (default 30 s). */
  shutdownTimeoutMs?: number
}

/** Exit code of a configuration error (as a usage error). */
export const EXIT_CONFIG = 2

/** Run the app until a signal; exits the process itself (2 config, 70 stalled, 1 failure, 0 ok). */
export async function runService<C>(spec: ServiceSpec<C>): Promise<void> {
  let config: C
  try {
    config = spec.loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${spec.name}: ${err.message}\n`)
    process.exit(EXIT_CONFIG)
  }
  const logger = createLogger(spec.name, spec.logLevel(config))
  installCrashHandlers(logger)
  for (const d of spec.deprecatedVariables?.(config) ?? []) {
    const msg = d.ignored ? `${d.variable} is ignored: ${d.use} is set` : `${d.variable} is deprecated: use ${d.use}`
    logger.warn({ variable: d.variable, use: d.use }, msg)
  }
  // signals are handled from here on: one that comes during start closes the app once started
  let started: Promise<RunningService> | undefined
  let watchdog: Watchdog | undefined
  let closing = false
  const close = closeOnce(logger, () => [
    {
      name: 'watchdog',
      run: () => {
        closing = true
        watchdog?.stop()
      },
    },
    // the app's own steps log their failures by name; this one says that the app's close failed
    { name: spec.name, run: async () => (await started)?.close() },
  ])
  onShutdownSignal(logger, close, spec.shutdownTimeoutMs)
  started = spec.start(config, logger)
  let service: RunningService
  try {
    service = await started
  } catch (err) {
    logger.fatal({ err }, 'start failed')
    logger.flush?.()
    process.exit(1)
  }
  if (!closing) watchdog = startWatchdog({ healthy: () => service.healthy(), stallMs: spec.watchdogMs(config), logger })
}
