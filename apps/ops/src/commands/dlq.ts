import { DLQ_FIELDS, STREAMS, allShards, dlqStreamName, type RedisClient } from '@firehose/streams'
import { checkEntryId, entryAgeMs, formatDuration, parseIntOption } from '../args.js'
import type { Command } from '../command.js'
import { flag, str, type Context } from '../context.js'
import { OpsError, UsageError } from '../errors.js'
import { fieldsObject } from '../redis-info.js'

const STREAM_OPTION = { stream: { type: 'string', short: 's' } } as const
const DLQ_SET = new Set<string>(DLQ_FIELDS)

export interface DlqEntry {
  dlq: string
  id: string
  /** Where a replay sends it: its `source_stream`, else the DLQ's name without `_dlq`. */
  target: string
  sourceId: string | null
  error: string | null
  attempts: number | null
  failedAt: string | null
  consumer: string | null
  /** The original fields (e.g. `repo` or `event`), as the worker read them. */
  fields: Record<string, string>
}

/** `repo_backfill` or `repo_backfill_dlq` → the DLQ stream(s), one per shard. */
function dlqStreams(ctx: Context): { source: string; dlqs: string[] } {
  const given = str(ctx.args, 'stream') ?? STREAMS.repoBackfill
  if (given.trim() === '') throw new UsageError('--stream must not be empty')
  const source = given.endsWith('_dlq') ? given.slice(0, -4) : given
  return { source, dlqs: allShards(source, ctx.shards).map(dlqStreamName) }
}

function toEntry(dlq: string, id: string, flat: string[]): DlqEntry {
  const all = fieldsObject(flat)
  const fields: Record<string, string> = {}
  for (const [k, v] of Object.entries(all)) if (!DLQ_SET.has(k)) fields[k] = v
  return {
    dlq,
    id,
    target: all.source_stream || dlq.replace(/_dlq$/, ''),
    sourceId: all.source_id ?? null,
    error: all.error ?? null,
    attempts: all.attempts === undefined ? null : Number(all.attempts),
    failedAt: all.failed_at ?? null,
    consumer: all.consumer ?? null,
    fields,
  }
}

async function readEntries(redis: RedisClient, dlq: string, start: string, end: string, count: number): Promise<DlqEntry[]> {
  const reply = (await redis.xrange(dlq, start, end, 'COUNT', count)) as [string, string[]][]
  return reply.map(([id, flat]) => toEntry(dlq, id, flat))
}

async function findEntry(redis: RedisClient, dlqs: string[], id: string): Promise<DlqEntry | null> {
  for (const dlq of dlqs) {
    const [e] = await readEntries(redis, dlq, id, id, 1)
    if (e) return e
  }
  return null
}

/** A short description of the payload: the DID of a repo job or event, else the field names. */
function subject(e: DlqEntry): string {
  for (const k of ['repo', 'event']) {
    const v = e.fields[k]
    if (v) {
      const m = /"did"\s*:\s*"([^"]+)"/.exec(v)
      if (m) return m[1] as string
    }
  }
  return Object.keys(e.fields).join(',')
}

/** XADD the original fields back to the source stream, then XDEL from the DLQ (a crash in between duplicates, never loses). */
async function replayOne(redis: RedisClient, e: DlqEntry): Promise<string> {
  const flat = Object.entries(e.fields).flat()
  if (flat.length === 0) throw new OpsError(`${e.dlq} ${e.id} has no payload fields to replay`)
  const newId = (await redis.xadd(e.target, '*', ...flat)) ?? ''
  await redis.xdel(e.dlq, e.id)
  return newId
}

export const dlqCommands: Command[] = [
  {
    name: 'dlq ls',
    usage: 'dlq ls [--stream repo_backfill] [--count 50]',
    summary: 'dead-lettered entries of a stream (its <stream>_dlq), oldest first, with error and attempts',
    options: { ...STREAM_OPTION, count: { type: 'string', short: 'n' } },
    async run(ctx) {
      if (ctx.args.positionals.length > 0) throw new UsageError(`unexpected argument "${ctx.args.positionals[0]}" (use --stream)`, 'dlq ls')
      const count = parseIntOption('count', str(ctx.args, 'count') ?? '50', 1, 100_000)
      const { dlqs } = dlqStreams(ctx)
      const redis = await ctx.redis()
      const rows: DlqEntry[] = []
      let total = 0
      for (const dlq of dlqs) {
        total += await redis.xlen(dlq)
        if (rows.length < count) rows.push(...(await readEntries(redis, dlq, '-', '+', count - rows.length)))
      }
      if (ctx.json) {
        ctx.out(`${JSON.stringify({ streams: dlqs, total, entries: rows }, null, 2)}\n`)
        return
      }
      ctx.print(
        rows,
        [
          { header: 'id', value: (r) => r.id },
          ...(dlqs.length > 1 ? [{ header: 'dlq', value: (r: DlqEntry) => r.dlq }] : []),
          { header: 'subject', value: subject, max: 48 },
          { header: 'attempts', value: (r) => r.attempts },
          { header: 'age', value: (r) => formatDuration(entryAgeMs(r.id)), align: 'right' },
          { header: 'consumer', value: (r) => r.consumer },
          { header: 'error', value: (r) => r.error, max: 60 },
        ],
        `(${dlqs.join(', ')} is empty)\n`,
      )
      if (total > rows.length) ctx.note(`showing ${rows.length} of ${total}; use --count to see more`)
    },
  },
  {
    name: 'dlq show',
    usage: 'dlq show <id> [--stream repo_backfill]',
    summary: 'one dead-lettered entry in full',
    options: STREAM_OPTION,
    async run(ctx) {
      const p = ctx.args.positionals
      if (p.length !== 1) throw new UsageError(p.length === 0 ? 'missing <id>' : `unexpected argument "${p[1]}"`, 'dlq show')
      const id = checkEntryId(p[0] as string)
      const { dlqs } = dlqStreams(ctx)
      const e = await findEntry(await ctx.redis(), dlqs, id)
      if (!e) throw new OpsError(`no entry ${id} in ${dlqs.join(', ')}`)
      const lines = [
        `dlq:        ${e.dlq}`,
        `id:         ${e.id}`,
        `source:     ${e.target} ${e.sourceId ?? ''}`.trimEnd(),
        `failed at:  ${e.failedAt ?? '-'}`,
        `attempts:   ${e.attempts ?? '-'}`,
        `consumer:   ${e.consumer ?? '-'}`,
        `error:      ${e.error ?? '-'}`,
        ...Object.entries(e.fields).map(([k, v]) => `${`${k}:`.padEnd(12)}${v}`),
      ]
      ctx.printJsonOr(e, lines.join('\n'))
    },
  },
  {
    name: 'dlq replay',
    usage: 'dlq replay (<id>… | --all) [--stream repo_backfill] --yes',
    summary: 'send entries back to their source stream without the DLQ fields, and delete them from the DLQ',
    options: { ...STREAM_OPTION, all: { type: 'boolean' }, yes: { type: 'boolean', short: 'y' } },
    async run(ctx) {
      const ids = ctx.args.positionals.map(checkEntryId)
      const all = flag(ctx.args, 'all')
      if (all === ids.length > 0)
        throw new UsageError(all ? 'give either ids or --all, not both' : 'give the ids to replay, or --all', 'dlq replay')
      const { dlqs } = dlqStreams(ctx)
      const yes = flag(ctx.args, 'yes')
      const redis = await ctx.redis()
      const replayed: { dlq: string; id: string; target: string; newId: string | null }[] = []
      const missing: string[] = []
      if (all) {
        for (const dlq of dlqs) {
          // Stop at the newest entry present now: entries dead-lettered meanwhile are not looped over.
          const last = ((await redis.xrevrange(dlq, '+', '-', 'COUNT', 1)) as [string, string[]][])[0]?.[0]
          if (!last) continue
          let start = '-'
          for (;;) {
            const page = await readEntries(redis, dlq, start, last, 500)
            if (page.length === 0) break
            for (const e of page) replayed.push({ dlq, id: e.id, target: e.target, newId: yes ? await replayOne(redis, e) : null })
            start = `(${(page[page.length - 1] as DlqEntry).id}`
          }
        }
      } else {
        for (const id of ids) {
          const e = await findEntry(redis, dlqs, id)
          if (!e) missing.push(id)
          else replayed.push({ dlq: e.dlq, id, target: e.target, newId: yes ? await replayOne(redis, e) : null })
        }
      }
      if (ctx.json) ctx.out(`${JSON.stringify({ dryRun: !yes, replayed, missing }, null, 2)}\n`)
      else {
        const verb = yes ? 'replayed' : 'would replay'
        const targets = [...new Set(replayed.map((r) => r.target))].join(', ') || '-'
        ctx.out(`${verb} ${replayed.length} ${replayed.length === 1 ? 'entry' : 'entries'} from ${dlqs.join(', ')} to ${targets}\n`)
        if (!yes && replayed.length > 0) ctx.note('dry run: nothing changed; add --yes to replay')
      }
      if (missing.length > 0) throw new OpsError(`not found in ${dlqs.join(', ')}: ${missing.join(', ')}`)
    },
  },
  {
    name: 'dlq purge',
    usage: 'dlq purge [<id>…] [--stream repo_backfill] --yes',
    summary: 'delete the given entries, or the whole DLQ when no id is given',
    options: { ...STREAM_OPTION, yes: { type: 'boolean', short: 'y' } },
    async run(ctx) {
      const ids = ctx.args.positionals.map(checkEntryId)
      const { dlqs } = dlqStreams(ctx)
      const yes = flag(ctx.args, 'yes')
      const redis = await ctx.redis()
      let deleted = 0
      const missing: string[] = []
      if (ids.length === 0) {
        for (const dlq of dlqs) {
          const n = await redis.xlen(dlq)
          // DEL of the whole stream: a DLQ has no consumer groups to keep.
          if (yes && n > 0) await redis.del(dlq)
          deleted += n
        }
      } else {
        for (const id of ids) {
          const e = await findEntry(redis, dlqs, id)
          if (!e) missing.push(id)
          else {
            if (yes) await redis.xdel(e.dlq, id)
            deleted++
          }
        }
      }
      ctx.printJsonOr(
        { dryRun: !yes, deleted, missing },
        `${yes ? 'deleted' : 'would delete'} ${deleted} ${deleted === 1 ? 'entry' : 'entries'} from ${dlqs.join(', ')}`,
      )
      if (!yes && deleted > 0) ctx.note('dry run: nothing changed; add --yes to delete')
      if (missing.length > 0) throw new OpsError(`not found in ${dlqs.join(', ')}: ${missing.join(', ')}`)
    },
  },
]
