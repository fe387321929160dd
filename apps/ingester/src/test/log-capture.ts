import { createLogger, type Logger } from '@firehose/service'

export interface CapturedLog {
  level: string
  msg: string
  [field: string]: unknown
}

/** A real pino logger whose JSON lines land in `lines` (for tests that check what is logged). */
export function captureLogger(): { logger: Logger; lines: CapturedLog[] } {
  const lines: CapturedLog[] = []
  const logger = createLogger('ingester-test', 'info', {
    write(s: string) {
      for (const l of s.split('\n')) if (l) lines.push(JSON.parse(l) as CapturedLog)
    },
  })
  return { logger, lines }
}
