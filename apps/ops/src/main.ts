#!/usr/bin/env node
/**
 * firehose-ops: an operator CLI over the Redis streams (asynq style). Read-only unless `--yes`;
 * tables for people, `--json` for scripts. Exit codes: 0 ok, 1 runtime error, 2 usage error.
 */
import { isEntryPoint } from '@firehose/service'
import { GLOBAL_OPTIONS, parse } from './args.js'
import type { Command } from './command.js'
import { backfillCommands } from './commands/backfill.js'
import { bulkLoadCommand } from './commands/bulk-load.js'
import { consumersCommands } from './commands/consumers.js'
import { cursorCommands } from './commands/cursor.js'
import { dlqCommands } from './commands/dlq.js'
import { groupsCommands } from './commands/groups.js'
import { streamsCommands } from './commands/streams.js'
import { syncStateCommands } from './commands/sync-state.js'
import { Context, type Env } from './context.js'
import { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, OpsError, UsageError } from './errors.js'
import { escapeControl, terminalSafe } from './terminal-safe.js'

export const COMMANDS: Command[] = [
  ...streamsCommands,
  ...groupsCommands,
  ...dlqCommands,
  ...backfillCommands,
  ...cursorCommands,
  ...consumersCommands,
  ...syncStateCommands,
  bulkLoadCommand,
]

const GLOBAL_HELP = `Global options:
  --redis-url <url>       Redis to use (default: $REDIS_URL, else redis://127.0.0.1:6379)
  --cluster-nodes <h:p,…> Redis Cluster seed nodes (default: $REDIS_CLUSTER_NODES)
  --shards <n>            streams are sharded as <name>:{0..n-1} (default: $STREAM_SHARDS, else 1)
  --json                  machine-readable output
  -h, --help              this help`

export function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.usage}\n      ${c.summary}`)
  return `usage: ops <command> [options]\n\nCommands:\n${lines.join('\n')}\n\n${GLOBAL_HELP}\n`
}

const commandUsage = (c: Command): string => `usage: ops ${c.usage}\n  ${c.summary}\n\n${GLOBAL_HELP}\n`

/** Global string options take a value: skip it when looking for the command words. */
const TAKES_VALUE = new Set(
  Object.entries(GLOBAL_OPTIONS)
    .filter(([, o]) => o.type === 'string')
    .map(([k]) => `--${k}`),
)

/** Find the command named by the first one or two words of argv; return it and the other arguments. */
export function resolve(argv: string[]): { command: Command | undefined; rest: string[]; words: string[] } {
  const wordIdx: number[] = []
  for (let i = 0; i < argv.length && wordIdx.length < 2; i++) {
    const a = argv[i] as string
    if (a === '--') break
    if (a.startsWith('-')) {
      if (TAKES_VALUE.has(a)) i++
      continue
    }
    wordIdx.push(i)
  }
  const words = wordIdx.map((i) => argv[i] as string)
  const two = words.slice(0, 2).join(' ')
  let command = COMMANDS.find((c) => c.name === two)
  let used = 2
  if (!command) {
    command = COMMANDS.find((c) => c.name === words[0])
    used = 1
  }
  if (!command) return { command: undefined, rest: argv, words }
  const drop = new Set(wordIdx.slice(0, used))
  return { command, rest: argv.filter((_, i) => !drop.has(i)), words }
}

export interface Io {
  out: (s: string) => void
  err: (s: string) => void
}

export async function run(
  argv: string[],
  env: Env,
  rawIo: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) },
): Promise<number> {
  // everything printed may hold text from remote peers: control characters are shown, not obeyed
  const io: Io = { out: terminalSafe(rawIo.out), err: terminalSafe(rawIo.err) }
  const { command, rest, words } = resolve(argv)
  const wantsHelp = argv.includes('--help') || argv.includes('-h')
  if (!command) {
    if (wantsHelp || words[0] === 'help') {
      io.out(usage())
      return EXIT_OK
    }
    if (words.length === 0) {
      io.err(`error: missing command\n\n${usage()}`)
      return EXIT_USAGE
    }
    const group = COMMANDS.filter((c) => c.name.startsWith(`${words[0]} `))
    const msg =
      group.length > 0
        ? `unknown command "${words.join(' ')}"; ${words[0]} has: ${group.map((c) => c.name.split(' ')[1]).join(', ')}`
        : `unknown command "${words[0]}"`
    io.err(`error: ${msg}\n\n${usage()}`)
    return EXIT_USAGE
  }
  if (wantsHelp) {
    io.out(commandUsage(command))
    return EXIT_OK
  }
  let ctx: Context | undefined
  try {
    ctx = new Context(parse(command.name, rest, command.options), env, io.out, io.err)
    await command.run(ctx)
    return EXIT_OK
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}\nusage: ops ${command.usage}\n`)
      return EXIT_USAGE
    }
    if (e instanceof OpsError) {
      io.err(`error: ${e.message}\n`)
      return EXIT_RUNTIME
    }
    const msg = e instanceof Error ? e.message : String(e)
    io.err(`error: ${command.name} failed: ${msg}\n`)
    return EXIT_RUNTIME
  } finally {
    await ctx?.close()
  }
}

if (isEntryPoint(import.meta.url)) {
  run(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code
    },
    (e: unknown) => {
      process.stderr.write(escapeControl(`error: ${e instanceof Error ? e.stack : String(e)}\n`))
      process.exitCode = EXIT_RUNTIME
    },
  )
}
