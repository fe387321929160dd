/**
 * Every table the writer fills, with the columns that are not data (when a row was written, an id
 * sequence): what two databases indexed from the same events must hold alike. Used by the
 * order-insensitivity and bulk-load tests and by `bench/indexer-bulk`.
 */
export const WRITTEN_TABLES: readonly (readonly [table: string, notData: readonly string[]])[] = [
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
