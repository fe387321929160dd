/**
 * The notification unique key as a SHA-256 of its four columns: `notification_key_idx`, in place
 * of 0009's `notification_unique_idx` on the columns themselves. The same rows are unique (a
 * digest of the columns, each prefixed with its length, so no two different rows make one
 * string), at ~4× less space: ~290 bytes an entry on the columns (a record's uri, the
 * recipient, the reason, a subject's uri), against 32 bytes of digest and the entry's overhead
 * (apps/indexer/DATABASE.md). `convert_to` and `textsend` are not immutable, so the text becomes
 * bytes by `decode(…, 'escape')` with its backslashes doubled: the same bytes, UTF-8.
 *
 * An indexer of an earlier build writes with `ON CONFLICT` on the old key, so the old key stays
 * while one may run (a rolling upgrade): it is dropped here only when `notification` is empty (a
 * new database). On a database that holds notifications, drop it once every indexer runs this
 * build (docs/operations.md): `DROP INDEX CONCURRENTLY IF EXISTS notification_unique_idx`. On a
 * large table, build the new key beforehand, `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS
 * notification_key_idx ON notification …` (the definition below), and the migration finds it.
 */
export const name = '0014-notification-key'

const part = (col: string): string => `length(${col})::text || ':' || ${col}`

/** The key's expression: the writer's `ON CONFLICT` names it (writer/notifications.ts). */
export const NOTIFICATION_KEY = `sha256(decode(replace(${[
  part('"recordUri"'),
  part('did'),
  part('reason'),
  part(`coalesce("reasonSubject", '')`),
].join(' || ')}, '\\', '\\\\'), 'escape'))`

export const statements: readonly string[] = [
  `CREATE UNIQUE INDEX IF NOT EXISTS notification_key_idx ON notification USING btree ((${NOTIFICATION_KEY}))`,
  `DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM notification) THEN
      DROP INDEX IF EXISTS notification_unique_idx;
    END IF;
  END $$`,
]
