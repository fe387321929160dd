/**
 * Tables newer versions of @atproto/bsky have (its migrations 20260604T224952774Z and
 * 20260729T223157563Z), with its names and types: gallery embeds, and the author's own
 * replies per thread (soft-deleted: `deletedAt`).
 */
export const name = '0005-appview-additions'

export const statements: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS post_embed_gallery_image (
    "postUri" character varying NOT NULL,
    "position" character varying NOT NULL,
    "imageCid" character varying NOT NULL,
    alt character varying NOT NULL,
    CONSTRAINT post_embed_gallery_image_pkey PRIMARY KEY ("postUri", "position")
)`,
  `CREATE TABLE IF NOT EXISTS op_thread_reply (
    "rootUri" character varying NOT NULL,
    "parentUri" character varying NOT NULL,
    uri character varying NOT NULL,
    "deletedAt" character varying,
    CONSTRAINT op_thread_reply_pkey PRIMARY KEY ("rootUri", uri)
)`,
]
