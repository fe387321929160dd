import { allShards } from '@firehose/streams'
import type { Command } from '../command.js'
import { flag, positionals, str } from '../context.js'
import { UsageError } from '../errors.js'
import { defaultGroup, groupError, groupsOf, type GroupInfo } from '../redis-info.js'

/**
 * `groups rm`: remove a consumer group that stopped reading (e.g. the earlier workers'
 * `firehose_group` left after a take-over). Until then it pins the trimming of its stream, which
 * grows without bound (`*_stream_oldest_unacked_age_seconds` shows it).
 */
export const groupsRmCommand: Command = {
  name: 'groups rm',
  usage: 'groups rm <stream> --group <g> [--yes]',
  summary:
    'remove a consumer group from a stream (every shard with --shards): what only it held back is then trimmed by the workers. Dry run unless --yes',
  options: { group: { type: 'string', short: 'g' }, yes: { type: 'boolean', short: 'y' } },
  async run(ctx) {
    const [stream] = positionals(ctx.args, 'groups rm', 1, 1, '<stream>') as [string]
    const group = str(ctx.args, 'group')
    if (group === undefined || group.trim() === '')
      throw new UsageError('--group is required: the group to remove (see: ops groups ls)', 'groups rm')
    const yes = flag(ctx.args, 'yes')
    const redis = await ctx.redis()
    const streams = /:\{\d+\}$/.test(stream) ? [stream] : allShards(stream, ctx.shards)
    const found: GroupInfo[] = []
    for (const s of streams) {
      const g = (await groupsOf(redis, s)).find((x) => x.group === group)
      if (g) found.push(g)
    }
    if (found.length === 0) throw groupError(new Error('NOGROUP'), streams.join(', '), group)
    const removed: (GroupInfo & { removed: boolean })[] = []
    for (const g of found) {
      if (yes) {
        try {
          await redis.xgroup('DESTROY', g.stream, g.group)
        } catch (e) {
          throw groupError(e, g.stream, g.group)
        }
      }
      removed.push({ ...g, removed: yes })
    }
    if (ctx.json) {
      ctx.out(`${JSON.stringify({ dryRun: !yes, groups: removed }, null, 2)}\n`)
    } else {
      ctx.print(removed, [
        { header: 'stream', value: (r) => r.stream },
        { header: 'group', value: (r) => r.group },
        { header: 'lag', value: (r) => r.lag ?? '?', align: 'right' },
        { header: 'pending', value: (r) => r.pending },
        { header: 'consumers', value: (r) => r.consumers },
        { header: 'removed', value: (r) => (r.removed ? 'yes' : 'no (dry run)') },
      ])
    }
    if (found.some((g) => g.group === defaultGroup(g.stream))) {
      ctx.note(
        `${group} is the group our workers use on ${stream}: a running worker recreates it from the start of the stream and reads everything again`,
      )
    }
    if (!yes) ctx.note('dry run: nothing changed; add --yes to remove the group')
  },
}
