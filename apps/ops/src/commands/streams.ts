import { entryAgeMs, formatDuration } from '../args.js'
import type { Command } from '../command.js'
import { positionals } from '../context.js'
import { scanKeys, streamInfo, type StreamInfo } from '../redis-info.js'

export const streamsCommands: Command[] = [
  {
    name: 'streams ls',
    usage: 'streams ls [<pattern>]',
    summary: 'every stream (or those matching a glob pattern): length, groups, age of the oldest and newest entry',
    options: {},
    async run(ctx) {
      const [pattern = '*'] = positionals(ctx.args, 'streams ls', 0, 1, 'pattern')
      const redis = await ctx.redis()
      const rows: (StreamInfo & { oldestAgeMs: number | null; newestAgeMs: number | null })[] = []
      for (const s of await scanKeys(redis, pattern, 'stream')) {
        const info = await streamInfo(redis, s)
        if (info) rows.push({ ...info, oldestAgeMs: entryAgeMs(info.firstId), newestAgeMs: entryAgeMs(info.lastId) })
      }
      ctx.print(
        rows,
        [
          { header: 'stream', value: (r) => r.stream },
          { header: 'length', value: (r) => r.length },
          { header: 'groups', value: (r) => r.groups },
          { header: 'oldest', value: (r) => formatDuration(r.oldestAgeMs), align: 'right' },
          { header: 'newest', value: (r) => formatDuration(r.newestAgeMs), align: 'right' },
          { header: 'last id', value: (r) => r.lastGeneratedId },
        ],
        '(no streams)\n',
      )
    },
  },
]
