import type { RedisClient } from '@firehose/streams'
import { formatDuration, parseDuration } from '../args.js'
import type { Command } from '../command.js'
import { flag, positionals, str } from '../context.js'
import { OpsError, UsageError } from '../errors.js'
import { consumersOf, groupError, type ConsumerInfo } from '../redis-info.js'
import { groupFor } from './groups.js'

/** Move every pending entry of `from` to `to` (XCLAIM … JUSTID), in pages. */
async function claimAll(redis: RedisClient, stream: string, group: string, from: string, to: string): Promise<number> {
  let moved = 0
  let previousFirst: string | undefined
  for (;;) {
    const page = (await redis.call('XPENDING', stream, group, '-', '+', 1000, from)) as [string, string, number, number][]
    if (page.length === 0) return moved
    const ids = page.map((p) => p[0])
    if (ids[0] === previousFirst) throw new OpsError(`XCLAIM did not move ${from}'s pending entries (starting at ${ids[0]}) to ${to}`)
    previousFirst = ids[0]
    // JUSTID: the delivery count is not raised, and entries deleted from the stream are dropped from the PEL.
    await redis.call('XCLAIM', stream, group, to, 0, ...ids, 'JUSTID')
    moved += ids.length
  }
}

/** Milliseconds since a consumer last did anything useful: `inactive` (Redis ≥ 7.2) or `idle`. */
const quietMs = (c: ConsumerInfo): number => c.inactiveMs ?? c.idleMs

export const consumersCommands: Command[] = [
  {
    name: 'consumers prune',
    usage: 'consumers prune <stream> [--group <g>] --idle 1h [--to <consumer>] [--force] --yes',
    summary:
      'remove consumers idle longer than --idle; their pending entries are first claimed to --to (default: the most recently active remaining consumer)',
    options: {
      group: { type: 'string', short: 'g' },
      idle: { type: 'string' },
      to: { type: 'string' },
      force: { type: 'boolean' },
      yes: { type: 'boolean', short: 'y' },
    },
    async run(ctx) {
      const [stream] = positionals(ctx.args, 'consumers prune', 1, 1, '<stream>') as [string]
      const group = groupFor(stream, str(ctx.args, 'group'), 'consumers prune')
      const idleArg = str(ctx.args, 'idle')
      if (idleArg === undefined)
        throw new UsageError('--idle is required (e.g. --idle 1h): consumers quiet for longer are removed', 'consumers prune')
      const idle = parseDuration('idle', idleArg)
      if (idle < 1000)
        throw new UsageError(
          `--idle must be at least 1s, got "${idleArg}"; use more than the workers' reclaim idle time`,
          'consumers prune',
        )
      const yes = flag(ctx.args, 'yes')
      const force = flag(ctx.args, 'force')
      const redis = await ctx.redis()
      const consumers = await consumersOf(redis, stream, group)
      const dead = consumers.filter((c) => quietMs(c) >= idle)
      const alive = consumers.filter((c) => quietMs(c) < idle).sort((a, b) => quietMs(a) - quietMs(b))
      const to = str(ctx.args, 'to') ?? alive[0]?.name
      if (to !== undefined && dead.some((d) => d.name === to))
        throw new UsageError(`--to ${to} is itself idle longer than ${idleArg}`, 'consumers prune')
      const withPending = dead.filter((d) => d.pending > 0)
      if (withPending.length > 0 && to === undefined && !force) {
        throw new OpsError(
          `${withPending.map((d) => `${d.name} has ${d.pending} pending`).join(', ')} and no live consumer remains to take them: ` +
            "pass --to <consumer> (e.g. the new instance's name), or --force to drop them from the group (they will not be redelivered)",
        )
      }
      const results: { consumer: string; idleMs: number; pending: number; claimedTo: string | null; claimed: number; removed: boolean }[] =
        []
      for (const d of dead) {
        let claimed = 0
        const target = d.pending > 0 ? (to ?? null) : null
        if (yes) {
          try {
            if (target) claimed = await claimAll(redis, stream, group, d.name, target)
            await redis.xgroup('DELCONSUMER', stream, group, d.name)
          } catch (e) {
            throw groupError(e, stream, group)
          }
        }
        results.push({
          consumer: d.name,
          idleMs: quietMs(d),
          pending: d.pending,
          claimedTo: target,
          claimed: yes ? claimed : d.pending,
          removed: yes,
        })
      }
      if (ctx.json) {
        ctx.out(`${JSON.stringify({ dryRun: !yes, stream, group, consumers: results }, null, 2)}\n`)
      } else {
        ctx.print(
          results,
          [
            { header: 'consumer', value: (r) => r.consumer },
            { header: 'idle', value: (r) => formatDuration(r.idleMs), align: 'right' },
            { header: 'pending', value: (r) => r.pending },
            { header: yes ? 'claimed to' : 'would claim to', value: (r) => (r.pending > 0 ? (r.claimedTo ?? 'DROPPED (--force)') : '') },
            { header: 'removed', value: (r) => (r.removed ? 'yes' : 'no (dry run)') },
          ],
          `(no consumer of ${stream} / ${group} is idle longer than ${idleArg})\n`,
        )
      }
      if (!yes && results.length > 0) ctx.note('dry run: nothing changed; add --yes to prune')
    },
  },
]
