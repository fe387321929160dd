import { sql } from 'kysely'
import type { Logger } from '@firehose/service'
import type { Database } from '../db/database.js'
import type { Tx } from '../writer/sql.js'

/**
 * bsky's indexes that only the AppView's reads use: no statement of the writer, in either mode,
 * reads them (checked by `pg_stat_user_indexes` after a drain of the bench mix in each mode;
 * apps/indexer/DATABASE.md "Bulk load"). A bulk load started on an empty database drops them
 * and its finish builds them once over the loaded tables, instead of every insert maintaining
 * them. Unique indexes and those any writer path reads stay.
 */
export const APPVIEW_ONLY_INDEXES: readonly string[] = [
  'actor_block_subjectdid_idx',
  'feed_generator_creator_index',
  'feed_item_cursor_idx',
  'feed_item_originator_cursor_idx',
  'feed_item_post_uri_idx',
  'labeler_order_by_idx',
  'list_creator_idx',
  'list_item_creator_idx',
  'list_item_subject_idx',
  'post_order_by_idx',
  'profile_creator_idx',
  'profile_starter_pack_joined_idx',
  'repost_order_by_idx',
  'starter_pack_creator_order_by_idx',
]

export interface DeferredIndex {
  name: string
  /** `pg_indexes.indexdef`: the statement that builds it again. */
  definition: string
}

/**
 * Drop the AppView-only indexes that exist, inside the caller's transaction (the bulk load's
 * start); returns their definitions, to be kept in the load's row.
 */
export async function dropAppViewIndexes(trx: Tx): Promise<DeferredIndex[]> {
  const res = await sql<{ name: string; definition: string }>`SELECT indexname AS name, indexdef AS definition FROM pg_indexes
    WHERE schemaname = current_schema() AND indexname = ANY(${APPVIEW_ONLY_INDEXES as string[]}::text[]) ORDER BY indexname`.execute(trx)
  for (const i of res.rows) await sql`DROP INDEX IF EXISTS ${sql.id(i.name)}`.execute(trx)
  return res.rows
}

/**
 * Build the deferred indexes again, each `CONCURRENTLY` (writes to its table go on while it is
 * built; outside any transaction). An index a killed build left invalid is dropped first, so
 * that running this again after a crash builds it.
 */
export async function buildIndexes(database: Database, indexes: readonly DeferredIndex[], logger?: Logger): Promise<void> {
  for (const i of indexes) {
    const state = await sql<{ valid: boolean }>`SELECT x.indisvalid AS valid FROM pg_class c JOIN pg_index x ON x.indexrelid = c.oid
      WHERE c.relname = ${i.name} AND c.relnamespace = current_schema()::regnamespace`.execute(database.db)
    const found = state.rows[0]
    if (found?.valid) continue
    if (found) await sql`DROP INDEX CONCURRENTLY IF EXISTS ${sql.id(i.name)}`.execute(database.db)
    const t0 = performance.now()
    await sql.raw(i.definition.replace(/^CREATE (UNIQUE )?INDEX /, 'CREATE $1INDEX CONCURRENTLY ')).execute(database.db)
    logger?.info({ index: i.name, seconds: Math.round(performance.now() - t0) / 1000 }, 'index built')
  }
}
