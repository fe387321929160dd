import type { Logger } from './logger.js'

/** Exit code of a process whose main loop stalled (EX_SOFTWARE): the supervisor restarts it. */
export const EXIT_STALLED = 70

/**
 * SIGTERM / SIGINT run `shutdown` once, then exit 0 (1 if it rejected); a second signal, or a
 * shutdown that outlasts `timeoutMs`, exits 1 at once so a supervisor is never kept waiting.
 */
export function onShutdownSignal(logger: Logger, shutdown: () => Promise<void>, timeoutMs = 30_000): void {
  let started = false
  const handler = (signal: NodeJS.Signals) => {
    if (started) {
      logger.warn({ signal }, 'second signal: exiting now')
      flushAndExit(logger, 1)
      return
    }
    started = true
    logger.info({ signal }, 'shutting down: finishing in-flight work')
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown timed out')
      flushAndExit(logger, 1)
    }, timeoutMs)
    timer.unref()
    shutdown().then(
      () => {
        logger.info('shutdown complete')
        flushAndExit(logger, 0)
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed')
        flushAndExit(logger, 1)
      },
    )
  }
  process.on('SIGTERM', handler)
  process.on('SIGINT', handler)
}

function flushAndExit(logger: Logger, code: number): void {
  logger.flush?.()
  setImmediate(() => process.exit(code))
}

export interface Watchdog {
  stop(): void
}

/**
 * Liveness watchdog: it beats while `healthy()` is true (the app's own `/health`, false once its
 * main loop has not gone round for `stallMs`); after `stallMs` more without a beat, i.e. twice
 * `stallMs` after the loop stopped, the process exits with code 70 (Docker does not restart an
 * unhealthy container by itself).
 */
export function startWatchdog(opts: { healthy: () => boolean; stallMs: number; logger: Logger }): Watchdog {
  let last = Date.now()
  const timer = setInterval(
    () => {
      const now = Date.now()
      if (opts.healthy()) {
        last = now
      } else if (now - last > opts.stallMs) {
        opts.logger.fatal({ idleMs: now - last, stallMs: opts.stallMs }, 'main loop stalled: exiting so the supervisor restarts us')
        flushAndExit(opts.logger, EXIT_STALLED)
      }
    },
    Math.max(10, Math.min(1000, Math.floor(opts.stallMs / 4))),
  )
  timer.unref()
  return { stop: () => clearInterval(timer) }
}

/** Log and exit on errors nobody caught, rather than run on in an unknown state. */
export function installCrashHandlers(logger: Logger): void {
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception')
    process.exit(1)
  })
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection')
    process.exit(1)
  })
}
