import type { LexRecord } from '@firehose/streams'

/** Where a record lives and which version of it this is. */
export interface RecordRef {
  uri: string
  did: string
  collection: string
  rkey: string
  cid: string
  /** ISO time used as `indexedAt` (the event's time: replaying gives the same rows). */
  indexedAt: string
}

export type ColumnType = 'text' | 'jsonb' | 'bool'

/** A table a record type writes rows to, with its columns in insert order. */
export interface TableSpec {
  table: string
  columns: readonly { name: string; type: ColumnType }[]
  /** Column matching the record's uri, for deletes (`uri`, or `postUri` for embeds). */
  keyColumn: string
  /** An aggregate this table's rows count towards (e.g. quote.subject → quoteCount). */
  agg?: { kind: AggKind; column: string }
  /**
   * A column set to the delete's time when the record is deleted, the rows kept (bsky's
   * `op_thread_reply.deletedAt`), instead of removing them. The rows of a version that arrives
   * after its delete are then added with it set (writer/soft-delete.ts).
   */
  softDelete?: string
}

export type Row = Record<string, string | boolean | null>

/**
 * The aggregate counters, in the column order of their tables (`post_agg`, then `profile_agg`):
 * the order the recount statement lists them in.
 */
export const AGG_KINDS = ['likeCount', 'repostCount', 'replyCount', 'quoteCount', 'followersCount', 'followsCount', 'postsCount'] as const

/** An aggregate counter to recount, e.g. `post_agg.likeCount` of a post uri. */
export type AggKind = (typeof AGG_KINDS)[number]

/** The tables of aggregate counters: `post_agg` by post uri, `profile_agg` by DID. */
export type AggTable = 'post_agg' | 'profile_agg'

/**
 * A counter a record type's rows are counted in: its table, the base rows it counts (`rows`:
 * table `base`, keyed by `column`), and the SQL that counts the base rows of key `x.k` (run by
 * writer/aggregates.ts inside its recount statement). `delta`: the counter is kept by delta
 * instead, from the rows of `rows` that each statement adds or removes (triggers of migration
 * 0011, which must name the same pair); `count` then only fills a counter row that does not
 * exist yet, and a full recount (recount-counters.ts).
 */
export interface AggregateCount {
  kind: AggKind
  table: AggTable
  count: string
  /** `where`: which of them count (SQL over the row named `$row`; never null); all when absent. */
  rows: { base: string; column: string; where?: string }
  delta?: true
}

export interface AggKey {
  kind: AggKind
  key: string
}

/**
 * One record type, in the manner of bsky's indexing plugins: how a valid record becomes rows,
 * which aggregates it feeds, and (for types bsky keeps unique per creator and subject, e.g.
 * one like per post) the group its rows are de-duplicated in. The generic writer does the rest.
 */
export interface RecordModule {
  collection: string
  /** Lexicon id to validate against. */
  lexiconId: string
  /** The main table; its rows carry the record's uri in `uri`. */
  main: TableSpec
  /** Further tables written alongside (feed_item, embeds), replaced together with the main row. */
  extra: readonly TableSpec[]
  /** Rows for a valid record: main row (null: not indexed, e.g. a profile whose rkey is not self). */
  toRows(ref: RecordRef, record: LexRecord): { main: Row; extra: Row[][] } | null
  /** The counters this type's rows are counted in, each with its count (one module per counter). */
  aggregates?: readonly AggregateCount[]
  /** Aggregates a main row counts towards. */
  aggKeys(row: Row): AggKey[]
  /** Aggregates touched by the record's content, known even when its write is stale. */
  aggKeysOfRecord(ref: Pick<RecordRef, 'did' | 'uri'>, record: LexRecord): AggKey[]
  /** Columns of `main` that must be unique together (bsky's `*_unique_subject`). */
  uniqueGroup?: readonly string[]
  /**
   * Rules beyond the lexicon that make bsky refuse the record (e.g. a listitem in another
   * account's list): the reason, or null. Such a record is `invalid` (skipped, not stored).
   */
  check?(ref: Pick<RecordRef, 'did' | 'rkey'>, record: LexRecord): string | null
  /**
   * The collection of the record this type gates at the same rkey of the same repo (a
   * threadgate gates the post at its rkey): that record's row changes with this type's
   * (writer/post-flags.ts), so an op locks its uri too.
   */
  gates?: string
  /** Uris of other records a write of this type reads (a reply's root, a quoted post): locked shared. */
  reads?(did: string, record: LexRecord): string[]
  /**
   * The (thread owner, replier) pairs whose reply permission a record of this type bears on,
   * as `owner|replier`: a follow or a list item changes it (locked exclusive), a reply reads it
   * (shared). See writer/post-flags.ts.
   */
  replyPairs?: { exclusive: boolean; keys(did: string, record: LexRecord): string[] }
  /**
   * The version a delete removed is tracked (`record_tombstone.versionRev`, writer/soft-delete.ts)
   * although no table keeps its rows: bsky's verification leaves an `unverified` notification
   * naming it (writer/notifications.ts).
   */
  keepsDeletedVersion?: boolean
}
