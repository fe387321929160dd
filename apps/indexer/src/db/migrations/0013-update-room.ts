/**
 * Room on each page for the rows the normal path updates in place on most events: the counters
 * (`post_agg`, `profile_agg`: a like, repost, reply, quote, follow or post moves one of them) and
 * `actor_sync` (every commit moves its rev). With pages packed full, as inserts leave them, an
 * update that finds no room on its row's page writes the new version elsewhere and a new entry in
 * every index of the table (a non-HOT update); with a quarter of each page kept free, the update
 * stays on the page (HOT) and the page's dead versions are pruned in passing. Applies to pages
 * written from now on; `VACUUM FULL` or `pg_repack` of the table applies it to the others.
 */
export const name = '0013-update-room'

export const UPDATE_ROOM_TABLES = ['post_agg', 'profile_agg', 'actor_sync'] as const
export const UPDATE_ROOM_FILLFACTOR = 75

export const statements: readonly string[] = UPDATE_ROOM_TABLES.map((t) => `ALTER TABLE ${t} SET (fillfactor = ${UPDATE_ROOM_FILLFACTOR})`)
