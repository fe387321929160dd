/**
 * The wire format of the firehose streams (docs/design.md "Entry layout").
 *
 * One entry per repo operation, field `event` = JSON. The same layout is written by the
 * earlier TypeScript workers and by rsky, so the decoder is deliberately tolerant: unknown
 * fields are kept out of the typed result, unknown types decode to `{ type: 'unknown' }`,
 * backfill seq -1 (older writers) and -2 (ours) are both accepted, and record bytes written
 * by rsky as arrays of numbers are read like `{ "$bytes": base64 }`.
 */

/** seq of events emitted by a backfiller (older writers used -1: both are accepted). */
export const SEQ_BACKFILL = -2
export const SEQ_BACKFILL_LEGACY = -1

/** A record in atproto JSON form: CIDs as `{ $link }`, bytes as `{ $bytes }`. */
export type LexValue = string | number | boolean | null | LexValue[] | { [key: string]: LexValue }
export type LexRecord = { [key: string]: LexValue }

interface EventBase {
  seq: number
  /** ISO 8601 time the event was emitted by its source. */
  time: string
  did: string
}

export interface RecordWriteEvent extends EventBase {
  type: 'create' | 'update'
  commit: string
  rev: string
  collection: string
  rkey: string
  cid: string
  record: LexRecord
}

export interface RecordDeleteEvent extends EventBase {
  type: 'delete'
  commit: string
  rev: string
  collection: string
  rkey: string
}

/** A backfilled repo is complete (or, from rsky, a 500-record chunk of it). */
export interface RepoEvent extends EventBase {
  type: 'repo'
  commit: string
  rev: string
}

export interface AccountEvent extends EventBase {
  type: 'account'
  active: boolean
  status?: string
}

export interface IdentityEvent extends EventBase {
  type: 'identity'
  handle?: string
}

export type StreamEvent = RecordWriteEvent | RecordDeleteEvent | RepoEvent | AccountEvent | IdentityEvent

export type StreamEventType = StreamEvent['type']

/** A label as in `com.atproto.label.defs#label`, in JSON form (`sig` as `{ $bytes }`). */
export interface Label {
  ver?: number
  src: string
  uri: string
  cid?: string
  val: string
  neg?: boolean
  cts: string
  exp?: string
  sig?: { $bytes: string }
}

export interface LabelEvent {
  type: 'label'
  label: Label
  /** seq of the labeler's subscribeLabels frame, when known. */
  seq?: number
}

/** `repo` field of `repo_backfill` entries. */
export interface RepoBackfillJob {
  did: string
  host: string
  rev?: string
  status?: string
  active?: boolean
}

export class EventDecodeError extends Error {
  override name = 'EventDecodeError'
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message)
  }
}

/** Result of decoding an entry whose `type` this version does not know. */
export interface UnknownEvent {
  type: 'unknown'
  rawType: string
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function str(o: Record<string, unknown>, k: string): string {
  const v = o[k]
  if (typeof v !== 'string') throw new EventDecodeError(`field "${k}" must be a string`, k)
  return v
}
function optStr(o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw new EventDecodeError(`field "${k}" must be a string`, k)
  return v
}
function num(o: Record<string, unknown>, k: string): number {
  const v = o[k]
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (typeof v === 'string' && v !== '' && Number.isFinite(Number(v))) return Number(v)
  throw new EventDecodeError(`field "${k}" must be a number`, k)
}
/** `cid` is a string in our format; tolerate `{ $link }` too. */
function cidStr(o: Record<string, unknown>, k: string): string {
  const v = o[k]
  if (typeof v === 'string') return v
  if (isObj(v) && typeof v.$link === 'string') return v.$link
  throw new EventDecodeError(`field "${k}" must be a CID string`, k)
}
function time(o: Record<string, unknown>): string {
  const v = o.time
  if (typeof v === 'string') return v
  if (typeof v === 'number') return new Date(v).toISOString()
  return new Date().toISOString()
}

/** Convert rsky's byte arrays (`[1,2,3]` under a known bytes key) to `{ $bytes }`. */
export function bytesToLex(v: unknown): { $bytes: string } | undefined {
  if (isObj(v) && typeof v.$bytes === 'string') return { $bytes: v.$bytes }
  if (Array.isArray(v) && v.every((n) => Number.isInteger(n) && n >= 0 && n <= 255)) {
    return {
      $bytes: Buffer.from(v as number[])
        .toString('base64')
        .replace(/=+$/, ''),
    }
  }
  if (typeof v === 'string') return { $bytes: v }
  return undefined
}

const isByteArray = (v: unknown[]): boolean =>
  v.length > 0 && v.every((n) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 255)

/**
 * rsky writes a record's bytes as arrays of numbers: every non-empty array of integers 0-255,
 * at any depth, becomes `{ $bytes }` (DESIGN.md; an array of small integers cannot be told
 * from bytes in that form, and no app.bsky record has one). In place, on the freshly parsed
 * record; iterative, so a deeply nested record cannot exhaust the stack.
 */
function bytesArraysToLex(root: Record<string, unknown>): void {
  const stack: (Record<string, unknown> | unknown[])[] = [root]
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node)
    for (const k of keys) {
      const v = (node as Record<string | number, unknown>)[k]
      if (Array.isArray(v)) {
        if (isByteArray(v)) (node as Record<string | number, unknown>)[k] = bytesToLex(v)
        else stack.push(v)
      } else if (isObj(v)) stack.push(v)
    }
  }
}

function record(o: Record<string, unknown>): LexRecord {
  const v = o.record
  if (!isObj(v)) throw new EventDecodeError('field "record" must be an object', 'record')
  bytesArraysToLex(v)
  return v as LexRecord
}

/** Decode a parsed `event` object. Throws EventDecodeError when a known type is malformed. */
export function decodeEventObject(o: unknown): StreamEvent | UnknownEvent {
  if (!isObj(o)) throw new EventDecodeError('event must be a JSON object', 'event')
  const type = o.type
  if (typeof type !== 'string') throw new EventDecodeError('field "type" must be a string', 'type')
  switch (type) {
    case 'create':
    case 'update':
      return {
        type,
        seq: num(o, 'seq'),
        time: time(o),
        did: str(o, 'did'),
        commit: cidStr(o, 'commit'),
        rev: str(o, 'rev'),
        collection: str(o, 'collection'),
        rkey: str(o, 'rkey'),
        cid: cidStr(o, 'cid'),
        record: record(o),
      }
    case 'delete':
      return {
        type,
        seq: num(o, 'seq'),
        time: time(o),
        did: str(o, 'did'),
        commit: cidStr(o, 'commit'),
        rev: str(o, 'rev'),
        collection: str(o, 'collection'),
        rkey: str(o, 'rkey'),
      }
    case 'repo':
      return {
        type,
        seq: num(o, 'seq'),
        time: time(o),
        did: str(o, 'did'),
        commit: cidStr(o, 'commit'),
        rev: str(o, 'rev'),
      }
    case 'account': {
      const status = optStr(o, 'status')
      const active = o.active
      if (typeof active !== 'boolean') throw new EventDecodeError('field "active" must be a boolean', 'active')
      return { type, seq: num(o, 'seq'), time: time(o), did: str(o, 'did'), active, ...(status ? { status } : {}) }
    }
    case 'identity': {
      const handle = optStr(o, 'handle')
      return { type, seq: num(o, 'seq'), time: time(o), did: str(o, 'did'), ...(handle ? { handle } : {}) }
    }
    default:
      return { type: 'unknown', rawType: type }
  }
}

/** JSON.parse with an EventDecodeError naming the field. */
function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new EventDecodeError(`${field} is not JSON: ${(err as Error).message}`, field)
  }
}

/** Decode the `event` field of a firehose stream entry. */
export function decodeEvent(json: string): StreamEvent | UnknownEvent {
  return decodeEventObject(parseJson(json, 'event'))
}

export function encodeEvent(event: StreamEvent): string {
  return JSON.stringify(event)
}

export const isBackfillSeq = (seq: number): boolean => seq === SEQ_BACKFILL || seq === SEQ_BACKFILL_LEGACY

function decodeLabel(o: unknown): Label {
  if (!isObj(o)) throw new EventDecodeError('label must be an object', 'label')
  const neg = o.neg
  const ver = o.ver
  const sig = o.sig === undefined || o.sig === null ? undefined : bytesToLex(o.sig)
  const cid = optStr(o, 'cid')
  const exp = optStr(o, 'exp')
  return {
    ...(typeof ver === 'number' ? { ver } : {}),
    src: str(o, 'src'),
    uri: str(o, 'uri'),
    ...(cid ? { cid } : {}),
    val: str(o, 'val'),
    ...(neg === true ? { neg: true } : {}),
    cts: str(o, 'cts'),
    ...(exp ? { exp } : {}),
    ...(sig ? { sig } : {}),
  }
}

/**
 * Decode a `label_live` entry: ours and the earlier workers' `event` = `{type:'label',label}`,
 * or rsky's `labels` = `{seq, labels:[…]}`. Returns every label in the entry.
 */
export function decodeLabelEntry(fields: Record<string, string>): LabelEvent[] {
  if (fields.event !== undefined) {
    const o = parseJson(fields.event, 'event')
    if (!isObj(o)) throw new EventDecodeError('event must be a JSON object', 'event')
    if (o.type !== 'label') throw new EventDecodeError(`unexpected label event type ${String(o.type)}`, 'type')
    const seq = typeof o.seq === 'number' ? o.seq : undefined
    return [{ type: 'label', label: decodeLabel(o.label), ...(seq !== undefined ? { seq } : {}) }]
  }
  if (fields.labels !== undefined) {
    const o = parseJson(fields.labels, 'labels')
    if (!isObj(o) || !Array.isArray(o.labels)) throw new EventDecodeError('labels must be {seq, labels:[…]}', 'labels')
    const seq = typeof o.seq === 'number' ? o.seq : undefined
    return o.labels.map((l) => ({ type: 'label' as const, label: decodeLabel(l), ...(seq !== undefined ? { seq } : {}) }))
  }
  throw new EventDecodeError('label entry has neither "event" nor "labels"', 'event')
}

export function encodeLabelEvent(event: LabelEvent): string {
  return JSON.stringify(event)
}

export function decodeRepoJob(json: string): RepoBackfillJob {
  const o = parseJson(json, 'repo')
  if (!isObj(o)) throw new EventDecodeError('repo must be a JSON object', 'repo')
  const rev = optStr(o, 'rev')
  const status = optStr(o, 'status')
  const active = typeof o.active === 'boolean' ? o.active : undefined
  return {
    did: str(o, 'did'),
    host: typeof o.host === 'string' ? o.host : '',
    ...(rev ? { rev } : {}),
    ...(status ? { status } : {}),
    ...(active !== undefined ? { active } : {}),
  }
}

export function encodeRepoJob(job: RepoBackfillJob): string {
  return JSON.stringify(job)
}
