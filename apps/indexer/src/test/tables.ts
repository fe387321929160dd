import { dumpTable, type TestDb } from './db.js'

/** Every table the writer fills, with the columns that are not data (left out of comparisons). */
export const TABLES: [string, string[]][] = [
  ['record', []],
  // record_tombstone.tombstonedAt is when the tombstone was written (for pruning), not data
  ['record_tombstone', ['tombstonedAt']],
  ['post', []],
  ['feed_item', []],
  ['like', []],
  ['repost', []],
  ['follow', []],
  ['actor_block', []],
  ['profile', []],
  ['post_agg', []],
  ['profile_agg', []],
  ['duplicate_record', []],
  ['quote', []],
  ['post_embed_record', []],
  ['post_embed_image', []],
  ['post_embed_external', []],
  ['post_embed_video', []],
  ['post_embed_gallery_image', []],
  ['op_thread_reply', []],
  ['list', []],
  ['list_item', []],
  ['list_block', []],
  ['feed_generator', []],
  ['starter_pack', []],
  ['labeler', []],
  ['thread_gate', []],
  ['post_gate', []],
  ['verification', []],
  ['reference_list_opt_out', []],
  // (id: a sequence, in insertion order)
  ['notification', ['id']],
  ['actor_sync', []],
  // actor.indexedAt is when the DID was first seen, which depends on delivery order
  ['actor', ['indexedAt']],
]

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
