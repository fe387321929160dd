import { WRITTEN_TABLES } from '../db/written-tables.js'
import { dumpTable, type TestDb } from './db.js'

/** The tables the writer fills (db/written-tables.ts). */
export const TABLES = WRITTEN_TABLES

/** The same tables (and the snapshot floors), for TRUNCATE between cases. */
export const TRUNCATE = `record, record_tombstone, post, feed_item, "like", repost, follow, actor_block, profile, post_agg,
  profile_agg, duplicate_record, quote, post_embed_record, post_embed_image, post_embed_external, post_embed_video, post_embed_gallery_image, op_thread_reply,
  list, list_item, list_block, feed_generator, starter_pack, labeler, thread_gate, post_gate, verification,
  reference_list_opt_out, notification, actor, actor_sync, indexer_snapshot_floor`

/** Every row of every table of TABLES (test/db.ts dumpTable). */
export async function snapshot(t: TestDb): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {}
  for (const [table, exclude] of TABLES) out[table] = await dumpTable(t.database, table, exclude)
  return out
}
