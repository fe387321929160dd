import type { Logger } from './logger.js'

/**
 * SIGTERM / SIGINT run `shutdown` once; a second signal, or a shutdown that outlasts
 * `timeoutMs`, exits non-zero so a supervisor restarts the process.
 */
export function onShutdownSignal(logger: Logger, shutdown: () => Promise<void>, timeoutMs = 30_000): void {
  let started = false
  const handler = (signal: NodeJS.Signals) => {
    if (started) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    started = true
    logger.info({ signal }, 'shutting down: finishing in-flight work')
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown timed out')
      process.exit(1)
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

/**
 * Liveness watchdog: `beat()` from the main loop; if no beat for `stallMs`, `/health` turns
 * false and, after `exitAfterMs`, the process exits non-zero (Docker does not restart an
 * unhealthy container by itself).
 */
export class Watchdog {
  private last = Date.now()
  private timer: NodeJS.Timeout | undefined
  constructor(
    private readonly stallMs: number,
    private readonly logger: Logger,
    private readonly exitAfterMs = stallMs * 2,
  ) {}
  beat(): void {
    this.last = Date.now()
  }
  healthy = (): boolean => Date.now() - this.last < this.stallMs
  start(): void {
    this.timer = setInterval(() => {
      const idle = Date.now() - this.last
      if (idle > this.exitAfterMs) {
        this.logger.fatal({ idleMs: idle }, 'main loop stalled: exiting so the supervisor restarts us')
        process.exit(70)
      }
    }, Math.max(1000, this.stallMs / 4))
    this.timer.unref()
  }
  stop(): void {
    clearInterval(this.timer)
  }
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
