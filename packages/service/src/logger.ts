import { pino, type Logger } from 'pino'
import type { LogLevel } from './config.js'

export type { Logger }

/** JSON logs on stdout; one root logger per process, child loggers per subsystem. */
export function createLogger(app: string, level: LogLevel = 'info'): Logger {
  return pino({
    name: app,
    level,
    base: { app, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  })
}
