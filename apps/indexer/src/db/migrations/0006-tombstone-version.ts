/**
 * `record_tombstone."versionRev"`: the rev of the version a delete removed, for record types
 * with rows kept when deleted (`op_thread_reply`): those rows are that version's, whatever
 * order its create and its delete arrived in (writer/soft-delete.ts). Null for other types.
 * Adding a nullable column is instant on a large table.
 */
export const name = '0006-tombstone-version'

export const statements: readonly string[] = [`ALTER TABLE record_tombstone ADD COLUMN IF NOT EXISTS "versionRev" character varying`]
