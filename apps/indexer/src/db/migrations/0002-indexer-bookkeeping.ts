/**
 * The indexer's own bookkeeping on top of bsky's tables:
 * - `record.rev`: the repo revision (TID) that wrote the stored version; writes with an older
 *   rev are skipped. Null on rows written by bsky's indexer (any rev beats null).
 * - `record_tombstone`: a deleted uri and the rev of its delete, so that a late create or
 *   update with an older rev cannot bring the record back.
 */
export const name = '0002-indexer-bookkeeping'

export const statements: readonly string[] = [
  `ALTER TABLE record ADD COLUMN IF NOT EXISTS rev character varying`,
  `CREATE TABLE IF NOT EXISTS record_tombstone (
    uri character varying NOT NULL,
    did character varying NOT NULL,
    rev character varying NOT NULL,
    "deletedAt" character varying NOT NULL,
    CONSTRAINT record_tombstone_pkey PRIMARY KEY (uri)
)`,
  `CREATE INDEX IF NOT EXISTS record_tombstone_did_idx ON record_tombstone USING btree (did)`,
]
