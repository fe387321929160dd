import { readFile } from 'node:fs/promises'
import { GROUPS, STREAMS, encodeRepoJob, readGroupStats, streamForDid, type RepoBackfillJob } from '@firehose/streams'
import { fetchListReposPage, HostUrlError, hostBaseUrl, ListReposError, type ListReposPage, type PeerFetch } from '@firehose/atproto'
import { checkDid, parseIntOption } from '../args.js'
import type { Command } from '../command.js'
import { flag, str, type Context } from '../context.js'
import { OpsError, UsageError } from '../errors.js'

const CHUNK = 500

/** A host given as `pds.example.com` or `https://pds.example.com/` → `https://pds.example.com`. */
export function normalizeHost(option: string, v: string): string {
  try {
    return hostBaseUrl(v, 'http', ['https:', 'http:'])
  } catch (err) {
    if (!(err instanceof HostUrlError)) throw err
    if (err.reason === 'scheme') throw new UsageError(`--${option} must use https:// (or http:// for a local PDS), got "${err.protocol}"`)
    throw new UsageError(`--${option} must be a host or an http(s) URL, got "${v}"`)
  }
}

/**
 * Lines of a DID file: `did`, `did host`, or a JSON object `{did, host?, rev?, status?, active?}`;
 * blank lines and `#` comments are skipped.
 */
export function parseDidFile(text: string, file: string, defaultHost: string): RepoBackfillJob[] {
  const jobs: RepoBackfillJob[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const where = `${file}:${i + 1}: `
    if (line.startsWith('{')) {
      let o: unknown
      try {
        o = JSON.parse(line)
      } catch {
        throw new UsageError(`${where}not valid JSON`)
      }
      const j = o as Partial<RepoBackfillJob>
      if (typeof j.did !== 'string') throw new UsageError(`${where}a JSON line needs a "did" string`)
      jobs.push({ ...j, did: checkDid(j.did, where), host: typeof j.host === 'string' ? j.host : defaultHost } as RepoBackfillJob)
      return
    }
    const [did, host, extra] = line.split(/\s+/)
    if (extra !== undefined) throw new UsageError(`${where}expected "did" or "did host", got "${line}"`)
    jobs.push({ did: checkDid(did as string, where), host: host ? normalizeHost('file host', host) : defaultHost })
  })
  return jobs
}

/** Page through `com.atproto.sync.listRepos` of a PDS or relay, as backfill jobs. */
export async function* listRepos(
  fetch: PeerFetch,
  host: string,
  startCursor?: string,
  pageSize = 1000,
  timeoutMs = 30_000,
): AsyncGenerator<{ jobs: RepoBackfillJob[]; next: string | undefined }> {
  let cursor: string | undefined = startCursor
  for (;;) {
    let page: ListReposPage
    try {
      page = await fetchListReposPage(fetch, host, { cursor, limit: pageSize, signal: AbortSignal.timeout(timeoutMs) })
    } catch (e) {
      throw e instanceof ListReposError ? new OpsError(e.message) : e
    }
    yield { jobs: page.repos.map((r) => ({ ...r, host })), next: page.next }
    if (page.next === undefined) return
    cursor = page.next
  }
}

/**
 * Wait while a stream holds `hwm` or more entries not yet delivered to the backfillers' group
 * (its lag; XLEN when the group does not exist yet): an enqueue of a whole relay must not fill
 * Redis faster than the backfillers read.
 */
async function waitBelowHighWaterMark(ctx: Context, stream: string, group: string, hwm: number): Promise<void> {
  const redis = await ctx.redis()
  let noted = 0
  for (;;) {
    const stats = await readGroupStats(redis, stream, group)
    const waiting = stats.lag ?? stats.length
    if (waiting < hwm) return
    if (Date.now() - noted > 30_000) {
      ctx.note(`waiting: ${stream} has ${waiting} entries not yet read by ${group} (--high-water-mark ${hwm}); is a backfiller running?`)
      noted = Date.now()
    }
    await new Promise((r) => setTimeout(r, 1000))
  }
}

/** XADD each job to its stream (its shard, by DID), pipelined per stream. */
async function enqueue(
  ctx: Context,
  stream: string,
  jobs: RepoBackfillJob[],
  dryRun: boolean,
  hwm: { group: string; entries: number },
): Promise<Map<string, number>> {
  const byStream = new Map<string, RepoBackfillJob[]>()
  for (const j of jobs) {
    const s = streamForDid(stream, j.did, ctx.shards)
    const list = byStream.get(s) ?? []
    list.push(j)
    byStream.set(s, list)
  }
  const counts = new Map<string, number>()
  if (!dryRun) {
    const redis = await ctx.redis()
    for (const [s, list] of byStream) {
      for (let i = 0; i < list.length; i += CHUNK) {
        await waitBelowHighWaterMark(ctx, s, hwm.group, hwm.entries)
        const pipe = redis.pipeline()
        for (const j of list.slice(i, i + CHUNK)) pipe.xadd(s, '*', 'repo', encodeRepoJob(j))
        const res = await pipe.exec()
        const failed = res?.find(([err]) => err)
        if (failed) throw new OpsError(`XADD to ${s} failed: ${String(failed[0])}`)
      }
    }
  }
  for (const [s, list] of byStream) counts.set(s, list.length)
  return counts
}

export const backfillCommands: Command[] = [
  {
    name: 'backfill enqueue',
    usage:
      'backfill enqueue (<did>… | --file <path|-> | --host <url> [--cursor c]) [--pds <url>] [--stream repo_backfill] ' +
      '[--limit N] [--active-only] [--high-water-mark 1000000] [--group repo_backfill_group] [--dry-run]',
    summary:
      'add repos to repo_backfill: DIDs given, read from a file, or listed from a host with listRepos. ' +
      "The backfiller resolves each DID's PDS; --pds (or a file line's host) is the fallback when the DID document names none. " +
      'Pauses while the stream holds --high-water-mark entries its group has not read',
    options: {
      file: { type: 'string', short: 'f' },
      host: { type: 'string' },
      pds: { type: 'string' },
      stream: { type: 'string', short: 's' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      group: { type: 'string', short: 'g' },
      'high-water-mark': { type: 'string' },
      'active-only': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
    },
    async run(ctx) {
      const file = str(ctx.args, 'file')
      const host = str(ctx.args, 'host')
      const dids = ctx.args.positionals
      const sources = [dids.length > 0, file !== undefined, host !== undefined].filter(Boolean).length
      if (sources !== 1)
        throw new UsageError(sources === 0 ? 'give DIDs, --file or --host' : 'give only one of: DIDs, --file, --host', 'backfill enqueue')
      const stream = str(ctx.args, 'stream') ?? STREAMS.repoBackfill
      if (stream.trim() === '') throw new UsageError('--stream must not be empty', 'backfill enqueue')
      const pds = str(ctx.args, 'pds')
      if (pds !== undefined && host !== undefined)
        throw new UsageError('--pds applies to DIDs and --file; --host already names the host', 'backfill enqueue')
      const defaultHost = pds !== undefined ? normalizeHost('pds', pds) : ''
      const limitArg = str(ctx.args, 'limit')
      const limit = limitArg === undefined ? Infinity : parseIntOption('limit', limitArg, 1)
      const activeOnly = flag(ctx.args, 'active-only')
      const dryRun = flag(ctx.args, 'dry-run')

      const startCursor = str(ctx.args, 'cursor')
      if (startCursor !== undefined && host === undefined) throw new UsageError('--cursor resumes a --host listing', 'backfill enqueue')
      const hwm = {
        group: str(ctx.args, 'group') ?? GROUPS.repoBackfill,
        entries: parseIntOption('high-water-mark', str(ctx.args, 'high-water-mark') ?? '1000000', 1),
      }
      // DIDs given or read from a file are enqueued once each; a listing has no duplicates, and a
      // whole relay's DIDs would not fit in a Set.
      const seen = new Set<string>()
      let taken = 0
      const take = (jobs: RepoBackfillJob[]) => {
        const out: RepoBackfillJob[] = []
        for (const j of jobs) {
          if (taken >= limit) break
          if (activeOnly && j.active === false) continue
          if (host === undefined) {
            if (seen.has(j.did)) continue
            seen.add(j.did)
          }
          taken++
          out.push(j)
        }
        return out
      }
      const totals = new Map<string, number>()
      const add = async (jobs: RepoBackfillJob[]) => {
        for (const [s, n] of await enqueue(ctx, stream, take(jobs), dryRun, hwm)) totals.set(s, (totals.get(s) ?? 0) + n)
      }
      if (!dryRun) await ctx.redis() // fail before listing a host when Redis is down

      if (host !== undefined) {
        const h = normalizeHost('host', host)
        let pages = 0
        for await (const page of listRepos(ctx.peerFetch, h, startCursor)) {
          await add(page.jobs)
          if (++pages % 50 === 0) ctx.note(`${taken} repos so far; resume with --cursor ${page.next ?? '(end)'}`)
          if (taken >= limit) break
        }
      } else if (file !== undefined) {
        let text: string
        try {
          text = file === '-' ? await readStdin() : await readFile(file, 'utf8')
        } catch (e) {
          throw new UsageError(`cannot read --file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 'backfill enqueue')
        }
        await add(parseDidFile(text, file, defaultHost))
      } else {
        await add(dids.map((d) => ({ did: checkDid(d), host: defaultHost })))
      }
      const enqueued = [...totals.values()].reduce((a, b) => a + b, 0)
      const streams = Object.fromEntries(totals)
      ctx.printJsonOr(
        { dryRun, enqueued, streams },
        `${dryRun ? 'would enqueue' : 'enqueued'} ${enqueued} ${enqueued === 1 ? 'repo' : 'repos'} to ${[...totals.keys()].join(', ') || stream}`,
      )
    },
  },
]

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
