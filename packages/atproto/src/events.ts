/**
 * Stream event shapes (DESIGN.md "Redis streams and keys"). Structurally identical to the types
 * of `@firehose/streams` (events.ts), declared here so this package has no dependency on it.
 */
import type { LexRecord } from './lex.js'

interface EventBase {
  seq: number
  /** ISO 8601 time the event was emitted by its source */
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

/** `com.atproto.label.defs#label` in JSON form (`sig` as `{ $bytes }`). */
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
