/** The indexer's batch handlers: decode a read batch of stream entries and index it (firehose events, labels). */
import { Counter, Gauge, sleep, backoffDelay, type Logger, type Registry } from '@firehose/service'
import {
  decodeEvent,
  decodeLabelEntry,
  EventDecodeError,
  PermanentError,
  type BatchHandler,
  type Label,
  type StreamEntry,
  type StreamEvent,
} from '@firehose/streams'
import { sql } from 'kysely'
import pLimit from 'p-limit'
import type { Database } from './db/database.js'
import { indexLabels } from './labels.js'
import type { IndexerMetrics } from './metrics.js'
import { indexBatch, isDataError } from './writer/index-batch.js'
import type { HandleVerifier } from './writer/handles.js'
import type { HandleChecker } from './handle-checks.js'
import { DEFAULT_WRITE_SLOTS } from './writer/write-slots.js'
import type { TombstoneMetrics } from './tombstones/prune.js'

export interface ConsumerMetrics {
  processed: Counter<'stream' | 'type'>
  failed: Counter<'stream' | 'type'>
  malformed: Counter<'stream'>
  lag: Gauge<'stream'>
  dbWaitSeconds: Counter
}

export function createConsumerMetrics(registry: Registry): ConsumerMetrics {
  const registers = [registry]
  return {
    processed: new Counter({
      name: 'indexer_entries_processed_total',
      help: 'Stream entries indexed (acked), by stream and event type',
      labelNames: ['stream', 'type'],
      registers,
    }),
    failed: new Counter({
      name: 'indexer_entries_failed_total',
      help: 'Stream entries whose indexing failed (retried, then dead-lettered)',
      labelNames: ['stream', 'type'],
      registers,
    }),
    malformed: new Counter({
      name: 'indexer_entries_malformed_total',
      help: 'Entries that could not be decoded (dead-lettered at once)',
      labelNames: ['stream'],
      registers,
    }),
    lag: new Gauge({
      name: 'indexer_lag_seconds',
      help: "Seconds between the last indexed event's time and its indexing",
      labelNames: ['stream'],
      registers,
    }),
    dbWaitSeconds: new Counter({
      name: 'indexer_db_unavailable_seconds_total',
      help: 'Time spent waiting for Postgres to come back',
      registers,
    }),
  }
}

export interface HandlerDeps {
  database: Database
  metrics: IndexerMetrics
  consumerMetrics: ConsumerMetrics
  verifier: HandleVerifier
  /** Verifies the handles the batches left to check (a verifier with `peek`). */
  handleChecker?: HandleChecker
  /** Write `notification` rows (INDEXER_NOTIFICATIONS; default true). */
  notifications?: boolean
  /** INDEXER_MODE=bulk: derived state deferred while a bulk load is open (src/bulk/). */
  bulk?: boolean
  logger: Logger
  /** Aborted on shutdown: stop waiting for the database. */
  signal: AbortSignal
  tombstoneMetrics?: TombstoneMetrics
}

/** Postgres answers a trivial query (through pgbouncer). */
export async function pingDb(database: Database): Promise<boolean> {
  try {
    await sql`select 1`.execute(database.db)
    return true
  } catch {
    return false
  }
}

/**
 * When a whole batch failed, find out whether Postgres is down; if so, wait for it with backoff
 * (the entries stay in flight and are kept fresh, so nobody reclaims them) and report true so the
 * batch is tried again without counting a delivery. A restart of Postgres or pgbouncer must not
 * dead-letter anything.
 */
async function waitForDatabase(deps: HandlerDeps): Promise<boolean> {
  if (await pingDb(deps.database)) return false
  const started = Date.now()
  deps.logger.warn('Postgres is unreachable: holding the batch until it answers')
  for (let attempt = 0; !deps.signal.aborted; attempt++) {
    await sleep(backoffDelay(attempt, 200, 5000), deps.signal)
    if (await pingDb(deps.database)) break
  }
  deps.consumerMetrics.dbWaitSeconds.inc((Date.now() - started) / 1000)
  if (!deps.signal.aborted) deps.logger.info({ waitedS: (Date.now() - started) / 1000 }, 'Postgres is back')
  return !deps.signal.aborted
}

const eventTypeOf = (e: StreamEvent | undefined): string => e?.type ?? 'malformed'

/**
 * Batches decoded at once per handler. The consumer keeps INDEXER_CONCURRENCY_PER_SHARD batches in flight
 * (100 by default) while only DEFAULT_WRITE_SLOTS write at a time; the batches waiting beyond
 * these hold their entries as read (one string per entry) instead of decoded events and rows,
 * which the garbage collector would otherwise mark again and again.
 */
const DECODED_BATCHES = 2 * DEFAULT_WRITE_SLOTS

/** Handler for `firehose_live` / `firehose_backfill` entries (field `event`). */
export function firehoseHandler(deps: HandlerDeps): BatchHandler {
  const decoding = pLimit(DECODED_BATCHES)
  const handle = handleFirehoseEntries(deps)
  return (entries: StreamEntry[]) => decoding(() => handle(entries))
}

function handleFirehoseEntries(deps: HandlerDeps): BatchHandler {
  return async (entries: StreamEntry[]) => {
    const results: (Error | null)[] = entries.map(() => null)
    const events: StreamEvent[] = []
    const positions: number[] = []
    const synthetic = new Set<number>()
    const stream = entries[0]?.stream ?? ''
    for (let i = 0; i < entries.length; i++) {
      const raw = (entries[i] as StreamEntry).fields.event
      try {
        if (raw === undefined) throw new EventDecodeError('entry has no "event" field', 'event')
        const ev = decodeEvent(raw)
        if (ev.type === 'unknown') {
          deps.consumerMetrics.processed.inc({ stream, type: 'unknown' })
          continue
        }
        events.push(ev)
        positions.push(i)
        if (ev.type === 'repo') {
          // A backfilled repo's actor may never see an #identity event (it predates our cursor):
          // index its handle from the DID document, verified both ways, as bsky's indexRepo does.
          synthetic.add(events.length)
          events.push({ type: 'identity', seq: ev.seq, time: ev.time, did: ev.did })
          positions.push(i)
        }
      } catch (err) {
        deps.consumerMetrics.malformed.inc({ stream })
        deps.logger.warn({ stream, id: entries[i]?.id, err: (err as Error).message }, 'malformed entry: dead-lettering it')
        results[i] = new PermanentError(`malformed entry: ${(err as Error).message}`)
      }
    }
    if (events.length === 0) return results
    for (;;) {
      const res = await indexBatch(deps.database, events, {
        metrics: deps.metrics,
        verifier: deps.verifier,
        logger: deps.logger,
        notifications: deps.notifications,
        bulk: deps.bulk,
      })
      if (res.failed.length === events.length && (await waitForDatabase(deps))) continue
      deps.handleChecker?.enqueue(res.handleChecks)
      let newest = 0
      const late = res.outcomes.filter((o) => o?.beyondHorizon).length
      if (late > 0) {
        deps.tombstoneMetrics?.beyondHorizon.inc(late)
        deps.logger.warn(
          { stream, writes: late },
          'writes older than the pruned tombstones skipped as stale (re-backfill their repos to get them)',
        )
      }
      for (let k = 0; k < events.length; k++) {
        const ev = events[k] as StreamEvent
        const outcome = res.outcomes[k]
        const pos = positions[k] as number
        if (outcome?.status === 'failed') {
          deps.consumerMetrics.failed.inc({ stream, type: eventTypeOf(ev) })
          results[pos] = outcome.error ?? new Error('indexing failed')
        } else if (!synthetic.has(k)) {
          deps.consumerMetrics.processed.inc({ stream, type: ev.type })
          const t = Date.parse(ev.time)
          if (Number.isFinite(t) && t > newest) newest = t
        }
      }
      if (newest > 0) deps.consumerMetrics.lag.set({ stream }, Math.max(0, (Date.now() - newest) / 1000))
      return results
    }
  }
}

/**
 * Handler for `label_live` entries (`event` = {type:'label',label}, or rsky's `labels`). Labels
 * Postgres would refuse are refused before the statement (labels.ts); should the statement
 * still fail on its data, the entries are bisected so that only the refused ones fail.
 */
export function labelHandler(deps: HandlerDeps): BatchHandler {
  return async (entries: StreamEntry[]) => {
    const results: (Error | null)[] = entries.map(() => null)
    const perEntry: { index: number; labels: Label[] }[] = []
    const stream = entries[0]?.stream ?? ''
    for (let i = 0; i < entries.length; i++) {
      try {
        const labels = decodeLabelEntry((entries[i] as StreamEntry).fields).map((l) => l.label)
        if (labels.length) perEntry.push({ index: i, labels })
      } catch (err) {
        deps.consumerMetrics.malformed.inc({ stream })
        results[i] = new PermanentError(`malformed label entry: ${(err as Error).message}`)
      }
    }
    const write = async (part: typeof perEntry, depth: number): Promise<void> => {
      const labels = part.flatMap((e) => e.labels)
      for (;;) {
        try {
          await indexLabels(deps.database, labels, deps.metrics, deps.logger)
          deps.consumerMetrics.processed.inc({ stream, type: 'label' }, labels.length)
          return
        } catch (err) {
          if (!isDataError(err) && (await waitForDatabase(deps))) continue
          if (!isDataError(err) && depth === 0) throw err
          if (part.length === 1 || !isDataError(err)) {
            deps.consumerMetrics.failed.inc({ stream, type: 'label' }, part.length)
            deps.logger.warn({ stream, entries: part.length, err: (err as Error).message }, 'Postgres refused a label entry')
            for (const e of part) results[e.index] = err as Error
            return
          }
          const mid = Math.ceil(part.length / 2)
          await write(part.slice(0, mid), depth + 1)
          await write(part.slice(mid), depth + 1)
          return
        }
      }
    }
    if (perEntry.length) await write(perEntry, 0)
    return results
  }
}
