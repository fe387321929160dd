import type { ParseArgsConfig } from 'node:util'
import type { Context } from './context.js'

export interface Command {
  /** Command words: `streams ls`, `dlq replay`. */
  name: string
  usage: string
  summary: string
  options: NonNullable<ParseArgsConfig['options']>
  run(ctx: Context): Promise<void>
}
