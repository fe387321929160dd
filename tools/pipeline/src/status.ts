import type { Redis } from 'ioredis'
import type pg from 'pg'
import { dlqStreamName, readGroupStats, STREAMS, GROUPS } from '@firehose/streams'

export interface PipelineStatus {
  at: number
  streams: { stream: string; length: number; pending: number; lag: number | null; dlq: number }[]
  /** Entries added to the firehose/label streams so far (XINFO STREAM entries-added). */
  added: number
  /** Entries the indexer has processed so far (its metrics). */
  indexed: number
  rows: Record<string, number>
}

const WATCHED: [string, string][] = [
  [STREAMS.firehoseLive, GROUPS.indexer],
  [STREAMS.firehoseBackfill, GROUPS.indexer],
  [STREAMS.labelLive, GROUPS.label],
  [STREAMS.repoBackfill, GROUPS.repoBackfill],
]
const TABLES = ['post', 'like', 'repost', 'follow', 'actor_block', 'profile', 'actor', 'notification', 'label']

async function entriesAdded(redis: Redis, stream: string): Promise<number> {
  try {
    const info = (await redis.xinfo('STREAM', stream)) as (string | number)[]
    const i = info.indexOf('entries-added')
    return i >= 0 ? Number(info[i + 1]) : 0
  } catch {
    return 0
  }
}

async function indexedCount(metricsUrl: string): Promise<number> {
  try {
    const text = await (await fetch(`${metricsUrl}/metrics`)).text()
    let n = 0
    for (const line of text.split('\n')) {
      if (line.startsWith('indexer_entries_processed_total{')) n += Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    return n
  } catch {
    return 0
  }
}

export async function readStatus(redis: Redis, pool: pg.Pool, indexerMetricsUrl: string): Promise<PipelineStatus> {
  const streams = await Promise.all(
    WATCHED.map(async ([stream, group]) => {
      const s = await readGroupStats(redis, stream, group)
      return { stream, length: s.length, pending: s.pending, lag: s.lag, dlq: await redis.xlen(dlqStreamName(stream)) }
    }),
  )
  const added = (
    await Promise.all([STREAMS.firehoseLive, STREAMS.firehoseBackfill, STREAMS.labelLive].map((s) => entriesAdded(redis, s)))
  ).reduce((a, b) => a + b, 0)
  const rows: Record<string, number> = {}
  for (const t of TABLES) {
    try {
      rows[t] = Number((await pool.query(`select count(*) as n from "${t}"`)).rows[0].n)
    } catch {
      rows[t] = -1
    }
  }
  return { at: Date.now(), streams, added, indexed: await indexedCount(indexerMetricsUrl), rows }
}

/** A few lines for the terminal: rates against the previous status. */
export function renderStatus(now: PipelineStatus, prev: PipelineStatus | null): string {
  const dt = prev ? (now.at - prev.at) / 1000 : 0
  const rate = (a: number, b: number | undefined) => (prev && dt > 0 && b !== undefined ? Math.round((a - b) / dt) : 0)
  const lines = [
    `events/s in ${rate(now.added, prev?.added)}  out ${rate(now.indexed, prev?.indexed)}   (total in ${now.added}, indexed ${now.indexed})`,
    'stream               length  pending      lag   dlq',
    ...now.streams.map(
      (s) =>
        `${s.stream.padEnd(20)} ${String(s.length).padStart(7)} ${String(s.pending).padStart(8)} ${String(s.lag ?? '-').padStart(8)} ${String(s.dlq).padStart(5)}`,
    ),
    `rows: ${Object.entries(now.rows)
      .map(([t, n]) => `${t} ${n}`)
      .join('  ')}`,
  ]
  return lines.join('\n')
}
