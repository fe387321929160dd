import type { RecordDeleteEvent, RecordWriteEvent, StreamEvent } from '@firehose/streams'
import { moduleFor, type AggKey, type RecordModule } from '../records/index.js'
import { InvalidRecordError, validateRecord } from './validate.js'
import { isUnstorable, pgSafeValue, type UnstorableReason } from './pg-text.js'

/** A record create/update/delete, ready for the writer. */
export interface RecordOp {
  index: number
  uri: string
  did: string
  collection: string
  rkey: string
  rev: string
  commit: string
  time: string
  module: RecordModule | undefined
  event: RecordWriteEvent | RecordDeleteEvent
  /** Aggregates this op's content touches (writes only; known even when the write is stale). */
  aggKeys: AggKey[]
  /**
   * The uris whose rows this op may change, locked (in process and in Postgres) while it is
   * written: its own, and the row its type flags (a threadgate's post).
   */
  locks: string[]
  /** Uris this op's write reads (a reply's root, a quoted post): locked shared. */
  sharedLocks: string[]
  /** What was replaced in the record's text because Postgres cannot store it (pg-text.ts). */
  repaired?: UnstorableReason[]
}

export const isWrite = (op: RecordOp): op is RecordOp & { event: RecordWriteEvent } => op.event.type !== 'delete'

/**
 * The total order that decides which version of a uri wins, whatever the delivery order:
 * higher rev first; at the same rev a delete beats a write (a commit cannot create and delete
 * one path, so a tie means conflicting deliveries, and keeping the record deleted is the safe
 * side); then the higher cid (a deterministic tie-break for equal revs with different content).
 */
export function compareOps(a: RecordOp, b: RecordOp): number {
  if (a.rev !== b.rev) return a.rev < b.rev ? -1 : 1
  const ad = a.event.type === 'delete' ? 1 : 0
  const bd = b.event.type === 'delete' ? 1 : 0
  if (ad !== bd) return ad - bd
  const ac = a.event.type === 'delete' ? '' : a.event.cid
  const bc = b.event.type === 'delete' ? '' : b.event.cid
  return ac === bc ? 0 : ac < bc ? -1 : 1
}

export type Prepared =
  | { kind: 'record'; op: RecordOp }
  | { kind: 'invalid'; index: number; collection: string; error: Error; unstorable?: boolean }
  | { kind: 'other'; index: number; event: StreamEvent }
  | { kind: 'ignored'; index: number }

export const recordUri = (did: string, collection: string, rkey: string): string => `at://${did}/${collection}/${rkey}`

/** The event's own fields (not its record) that Postgres cannot store: the event is refused. */
function unstorableField(event: StreamEvent): string | undefined {
  for (const [k, v] of Object.entries(event)) if (k !== 'record' && typeof v === 'string' && isUnstorable(v)) return k
  return undefined
}

/**
 * Validate and classify each event (pure, outside any transaction). An event whose identifiers
 * hold text Postgres cannot store is refused (`invalid`); such text inside a record is
 * replaced (pg-text.ts) after the record was validated as sent, as bsky validates it.
 * `stored`: the events are versions read back from `record` (bulk/finish.ts), which passed all
 * of that when they were written: not validated again.
 */
export function prepareEvents(events: readonly StreamEvent[], opts: { stored?: boolean } = {}): Prepared[] {
  return events.map((event, index): Prepared => {
    const field = unstorableField(event)
    if (field !== undefined) {
      const collection = 'collection' in event && typeof event.collection === 'string' ? event.collection : event.type
      const error = new InvalidRecordError(`${field} holds text Postgres cannot store (U+0000 or a lone surrogate)`, collection)
      return { kind: 'invalid', index, collection, error, unstorable: true }
    }
    switch (event.type) {
      case 'create':
      case 'update':
      case 'delete': {
        const module = moduleFor(event.collection)
        let aggKeys: AggKey[] = []
        let repaired: UnstorableReason[] | undefined
        if (event.type !== 'delete' && opts.stored) {
          // a stored version (bulk/finish.ts): validated, checked and made storable when written
          aggKeys = module?.aggKeysOfRecord({ did: event.did, uri: '' }, event.record) ?? []
        } else if (event.type !== 'delete') {
          const invalid = validateRecord(event.collection, event.record)
          if (invalid) return { kind: 'invalid', index, collection: event.collection, error: invalid }
          const refused = module?.check?.(event, event.record)
          if (refused)
            return { kind: 'invalid', index, collection: event.collection, error: new InvalidRecordError(refused, event.collection) }
          const found = new Set<UnstorableReason>()
          const record = pgSafeValue(event.record, found)
          if (record !== event.record) {
            event = { ...event, record }
            repaired = [...found]
          }
          aggKeys = module?.aggKeysOfRecord({ did: event.did, uri: '' }, event.record) ?? []
        }
        const uri = recordUri(event.did, event.collection, event.rkey)
        const op: RecordOp = {
          index,
          uri,
          did: event.did,
          collection: event.collection,
          rkey: event.rkey,
          rev: event.rev,
          commit: event.commit,
          time: event.time,
          module,
          event,
          aggKeys,
          locks: module?.gates ? [uri, recordUri(event.did, module.gates, event.rkey)] : [uri],
          sharedLocks: event.type !== 'delete' ? (module?.reads?.(event.did, event.record) ?? []) : [],
          ...(repaired ? { repaired } : {}),
        }
        return { kind: 'record', op }
      }
      case 'repo':
      case 'account':
      case 'identity':
        return { kind: 'other', index, event }
      default:
        return { kind: 'ignored', index }
    }
  })
}

/** Same-batch reduction: the winner (greatest by compareOps) of each uri, and the losers. */
export function reduceOps(ops: readonly RecordOp[]): { winners: RecordOp[]; losers: RecordOp[] } {
  const best = new Map<string, RecordOp>()
  const losers: RecordOp[] = []
  for (const op of ops) {
    const cur = best.get(op.uri)
    if (!cur) best.set(op.uri, op)
    else if (compareOps(op, cur) > 0) {
      losers.push(cur)
      best.set(op.uri, op)
    } else losers.push(op)
  }
  return { winners: [...best.values()], losers }
}
