import { CURSOR_DONE, STREAMS, cursorKey } from '@firehose/streams'
import type { Command } from '../command.js'
import { flag, positionals } from '../context.js'
import { UsageError } from '../errors.js'
import { scanKeys } from '../redis-info.js'

/** Streams whose cursor is a relay seq (an integer); `repo_backfill`'s is an opaque listRepos cursor. */
const SEQ_STREAMS = new Set<string>([STREAMS.firehoseLive, STREAMS.labelLive])

export function checkCursorValue(stream: string, value: string): string {
  if (value.trim() === '') throw new UsageError('the cursor value must not be empty', 'cursor set')
  if (SEQ_STREAMS.has(stream) && !/^\d+$/.test(value)) {
    throw new UsageError(`a ${stream} cursor is a sequence number (a whole number >= 0), got "${value}"`, 'cursor set')
  }
  return value
}

function checkHost(host: string, command: string): string {
  if (host.trim() === '' || /\s/.test(host)) throw new UsageError(`"${host}" is not a host`, command)
  return host
}

export const cursorCommands: Command[] = [
  {
    name: 'cursor ls',
    usage: 'cursor ls [<stream>]',
    summary: 'every stored cursor (<stream>:cursor:<host>) and its value',
    options: {},
    async run(ctx) {
      const [stream] = positionals(ctx.args, 'cursor ls', 0, 1, '<stream>')
      const redis = await ctx.redis()
      const keys = await scanKeys(redis, stream ? `${stream}:cursor:*` : '*:cursor:*', 'string')
      const rows: { stream: string; host: string; key: string; value: string | null }[] = []
      for (const key of keys) {
        const i = key.indexOf(':cursor:')
        rows.push({ stream: key.slice(0, i), host: key.slice(i + 8), key, value: await redis.get(key) })
      }
      ctx.print(
        rows,
        [
          { header: 'stream', value: (r) => r.stream },
          { header: 'host', value: (r) => r.host },
          { header: 'value', value: (r) => (r.value === CURSOR_DONE ? `${r.value} (listing finished)` : r.value), align: 'left' },
        ],
        '(no cursors)\n',
      )
    },
  },
  {
    name: 'cursor get',
    usage: 'cursor get <stream> <host>',
    summary: "a host's cursor (the ingester resumes from it)",
    options: {},
    async run(ctx) {
      const [stream, host] = positionals(ctx.args, 'cursor get', 2, 2, '<stream> <host>') as [string, string]
      const key = cursorKey(stream, checkHost(host, 'cursor get'))
      const value = await (await ctx.redis()).get(key)
      ctx.printJsonOr({ key, value }, value === null ? `${key}: (not set)` : `${key}: ${value}`)
    },
  },
  {
    name: 'cursor set',
    usage: 'cursor set <stream> <host> <value> --yes',
    summary: "overwrite a host's cursor; stop the ingester first or it will write its own back",
    options: { yes: { type: 'boolean', short: 'y' } },
    async run(ctx) {
      const [stream, host, value] = positionals(ctx.args, 'cursor set', 3, 3, '<stream> <host> <value>') as [string, string, string]
      const key = cursorKey(stream, checkHost(host, 'cursor set'))
      checkCursorValue(stream, value)
      const redis = await ctx.redis()
      const previous = await redis.get(key)
      const yes = flag(ctx.args, 'yes')
      if (yes) await redis.set(key, value)
      ctx.printJsonOr({ key, previous, value, dryRun: !yes }, `${key}: ${previous ?? '(not set)'} -> ${value}${yes ? '' : ' (dry run)'}`)
      if (!yes) ctx.note('dry run: nothing changed; add --yes to set the cursor')
    },
  },
]
