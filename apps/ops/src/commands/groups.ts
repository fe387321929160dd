import { formatDuration, parseDuration, parseIntOption } from '../args.js'
import type { Command } from '../command.js'
import { positionals, str } from '../context.js'
import { consumersOf, defaultGroup, groupError, groupsOf, scanKeys, type ConsumerInfo, type GroupInfo } from '../redis-info.js'
import { UsageError } from '../errors.js'
import { groupsRmCommand } from './groups-rm.js'

export const groupsCommands: Command[] = [
  {
    name: 'groups ls',
    usage: 'groups ls [<stream>…]',
    summary: 'consumer groups with lag and pending, and each consumer with its pending entries and idle time',
    options: {},
    async run(ctx) {
      const redis = await ctx.redis()
      const streams = ctx.args.positionals.length > 0 ? ctx.args.positionals : await scanKeys(redis, '*', 'stream')
      const groups: (GroupInfo & { consumerList: ConsumerInfo[] })[] = []
      for (const s of streams) {
        for (const g of await groupsOf(redis, s)) groups.push({ ...g, consumerList: await consumersOf(redis, s, g.group) })
      }
      if (ctx.json) {
        ctx.out(
          `${JSON.stringify(
            groups.map(({ consumerList, ...g }) => ({ ...g, consumers: consumerList })),
            null,
            2,
          )}\n`,
        )
        return
      }
      ctx.print(
        groups,
        [
          { header: 'stream', value: (r) => r.stream },
          { header: 'group', value: (r) => r.group },
          { header: 'lag', value: (r) => r.lag ?? '?', align: 'right' },
          { header: 'pending', value: (r) => r.pending },
          { header: 'consumers', value: (r) => r.consumers },
          { header: 'last delivered', value: (r) => r.lastDeliveredId },
        ],
        '(no consumer groups)\n',
      )
      const consumers = groups.flatMap((g) => g.consumerList.map((c) => ({ stream: g.stream, group: g.group, ...c })))
      if (consumers.length > 0) {
        ctx.out('\n')
        ctx.print(consumers, [
          { header: 'stream', value: (r) => r.stream },
          { header: 'group', value: (r) => r.group },
          { header: 'consumer', value: (r) => r.name },
          { header: 'pending', value: (r) => r.pending },
          { header: 'idle', value: (r) => formatDuration(r.idleMs), align: 'right' },
          { header: 'inactive', value: (r) => formatDuration(r.inactiveMs), align: 'right' },
        ])
      }
    },
  },
  {
    name: 'pending',
    usage: 'pending <stream> [--group <g>] [--older-than 5m] [--consumer <c>] [--count 100]',
    summary: 'entries delivered to a group and not acked, oldest first (default group: the one our workers use on that stream)',
    options: {
      group: { type: 'string', short: 'g' },
      'older-than': { type: 'string' },
      consumer: { type: 'string' },
      count: { type: 'string' },
    },
    async run(ctx) {
      const [stream] = positionals(ctx.args, 'pending', 1, 1, '<stream>') as [string]
      const group = groupFor(stream, str(ctx.args, 'group'), 'pending')
      const olderThan = parseDuration('older-than', str(ctx.args, 'older-than') ?? '0')
      const count = parseIntOption('count', str(ctx.args, 'count') ?? '100', 1, 100_000)
      const consumer = str(ctx.args, 'consumer')
      const redis = await ctx.redis()
      let reply: [string, string, number, number][]
      try {
        const args: (string | number)[] = [stream, group, 'IDLE', olderThan, '-', '+', count, ...(consumer ? [consumer] : [])]
        reply = (await redis.call('XPENDING', ...args)) as [string, string, number, number][]
      } catch (e) {
        throw groupError(e, stream, group)
      }
      const rows = reply.map(([id, c, idle, deliveries]) => ({ id, consumer: c, idleMs: Number(idle), deliveries: Number(deliveries) }))
      ctx.print(
        rows,
        [
          { header: 'id', value: (r) => r.id },
          { header: 'consumer', value: (r) => r.consumer },
          { header: 'idle', value: (r) => formatDuration(r.idleMs), align: 'right' },
          { header: 'deliveries', value: (r) => r.deliveries },
        ],
        `(no pending entries in ${stream} / ${group}${olderThan ? ` idle longer than ${formatDuration(olderThan)}` : ''})\n`,
      )
    },
  },
  groupsRmCommand,
]

export function groupFor(stream: string, given: string | undefined, command: string): string {
  const g = given ?? defaultGroup(stream)
  if (!g) throw new UsageError(`--group is required for stream "${stream}"`, command)
  return g
}
