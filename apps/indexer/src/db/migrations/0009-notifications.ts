/**
 * bsky's `notification` table (its migrations 20230408T152211201Z, 20230427T194702079Z,
 * 20230609T232122649Z: same columns, types, sequence and index names) plus ONE index of ours,
 * `notification_unique_idx`: one row per (record, recipient, reason, subject), so a replay or a
 * re-backfill cannot add a row twice (rsky's table grew to 1.3 billion duplicate rows without
 * one). Rows a bsky indexer already wrote twice are removed first (the lowest id is kept), so the
 * migration applies on a database bsky filled. On a large table, create the index beforehand
 * with `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS` (same name and definition) after the same
 * clean-up: the migration then finds it and skips both.
 *
 * And bsky's `reference_list_opt_out` (migration 20260827T200000000Z), unique per creator and
 * list.
 */
export const name = '0009-notifications'

const UNIQUE = `notification_unique_idx ON notification USING btree ("recordUri", did, reason, (coalesce("reasonSubject", '')))`

export const statements: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS notification (
    id bigserial NOT NULL,
    did character varying NOT NULL,
    "recordUri" character varying NOT NULL,
    "recordCid" character varying NOT NULL,
    author character varying NOT NULL,
    reason character varying NOT NULL,
    "reasonSubject" character varying,
    "sortAt" character varying NOT NULL,
    CONSTRAINT notification_pkey PRIMARY KEY (id)
)`,
  `CREATE INDEX IF NOT EXISTS notification_did_sortat_idx ON notification USING btree (did, "sortAt")`,
  `CREATE INDEX IF NOT EXISTS notification_record_idx ON notification USING btree ("recordUri")`,
  `CREATE INDEX IF NOT EXISTS notification_author_idx ON notification USING btree (author)`,
  `DO $$ BEGIN
    IF to_regclass('notification_unique_idx') IS NULL THEN
      DELETE FROM notification a USING notification b
      WHERE a."recordUri" = b."recordUri" AND a.did = b.did AND a.reason = b.reason
        AND a."reasonSubject" IS NOT DISTINCT FROM b."reasonSubject" AND a.id > b.id;
    END IF;
  END $$`,
  `CREATE UNIQUE INDEX IF NOT EXISTS ${UNIQUE}`,
  `CREATE TABLE IF NOT EXISTS reference_list_opt_out (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "subjectUri" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    CONSTRAINT reference_list_opt_out_pkey PRIMARY KEY (uri),
    CONSTRAINT reference_list_opt_out_unique_subject UNIQUE (creator, "subjectUri")
)`,
]
