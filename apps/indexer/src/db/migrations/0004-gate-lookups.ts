/**
 * Indexes for recomputing a reply's thread-gate violation when its inputs change
 * (writer/post-flags.ts): the replies of a thread (a gate or root post changed), and an
 * account's thread gates (a follow or list item between it and a replier changed). bsky has
 * neither. On a large existing `post` table create them beforehand with
 * `CREATE INDEX CONCURRENTLY IF NOT EXISTS …` (same names): this migration is then a no-op.
 */
export const name = '0004-gate-lookups'

export const statements: readonly string[] = [
  `CREATE INDEX IF NOT EXISTS post_reply_root_idx ON post USING btree ("replyRoot") WHERE "replyRoot" IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS thread_gate_creator_idx ON thread_gate USING btree (creator)`,
]
