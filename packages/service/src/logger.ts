import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino'
import type { LogLevel } from './config.js'

export type { Logger }

/**
 * JSON logs on stdout; one root logger per process, child loggers per subsystem.
 * `destination`: where the lines go (default stdout); tests pass a stream to read them.
 */
export function createLogger(app: string, level: LogLevel = 'info', destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    name: app,
    level,
    base: { app, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  }
  return destination ? pino(options, destination) : pino(options)
}
