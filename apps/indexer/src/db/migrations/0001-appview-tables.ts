/**
 * The AppView tables the indexer writes, with @atproto/bsky's table, column, constraint and
 * index names and types (generated from a schema that bsky 0.0.280's own migrator produced).
 * Every statement is `IF NOT EXISTS`, so this applies cleanly on a database bsky already
 * migrated; bsky's pg_trgm search indexes are left to bsky (they need the extension).
 */
export const name = '0001-appview-tables'

export const statements: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS record (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    did character varying NOT NULL,
    json text NOT NULL,
    "indexedAt" character varying NOT NULL,
    "takedownRef" character varying,
    tags jsonb,
    CONSTRAINT record_pkey PRIMARY KEY (uri)
)`,
  `CREATE TABLE IF NOT EXISTS actor (
    did character varying NOT NULL,
    handle character varying,
    "indexedAt" character varying NOT NULL,
    "takedownRef" character varying,
    "upstreamStatus" character varying,
    "trustedVerifier" boolean DEFAULT false NOT NULL,
    "ageAssuranceStatus" text,
    "ageAssuranceLastInitiatedAt" character varying,
    "ageAssuranceAccess" text,
    "ageAssuranceCountryCode" text,
    "ageAssuranceRegionCode" text,
    CONSTRAINT actor_handle_key UNIQUE (handle),
    CONSTRAINT actor_pkey PRIMARY KEY (did)
)`,
  `CREATE TABLE IF NOT EXISTS actor_sync (
    did character varying NOT NULL,
    "commitCid" character varying NOT NULL,
    "repoRev" character varying,
    CONSTRAINT actor_sync_pkey PRIMARY KEY (did)
)`,
  `CREATE TABLE IF NOT EXISTS post (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    text character varying NOT NULL,
    "replyRoot" character varying,
    "replyRootCid" character varying,
    "replyParent" character varying,
    "replyParentCid" character varying,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    langs jsonb,
    "invalidReplyRoot" boolean,
    "violatesThreadGate" boolean,
    tags jsonb,
    "violatesEmbeddingRules" boolean,
    "hasThreadGate" boolean,
    "hasPostGate" boolean,
    CONSTRAINT post_pkey PRIMARY KEY (uri)
)`,
  `CREATE TABLE IF NOT EXISTS feed_item (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    type character varying NOT NULL,
    "postUri" character varying NOT NULL,
    "originatorDid" character varying NOT NULL,
    "sortAt" character varying NOT NULL,
    CONSTRAINT feed_item_pkey PRIMARY KEY (uri)
)`,
  `CREATE TABLE IF NOT EXISTS "like" (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    subject character varying NOT NULL,
    "subjectCid" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    via character varying,
    "viaCid" character varying,
    CONSTRAINT like_pkey PRIMARY KEY (uri),
    CONSTRAINT like_unique_subject UNIQUE (subject, creator)
)`,
  `CREATE TABLE IF NOT EXISTS repost (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    subject character varying NOT NULL,
    "subjectCid" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    via character varying,
    "viaCid" character varying,
    CONSTRAINT repost_pkey PRIMARY KEY (uri),
    CONSTRAINT repost_unique_subject UNIQUE (creator, subject)
)`,
  `CREATE TABLE IF NOT EXISTS follow (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "subjectDid" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    CONSTRAINT follow_pkey PRIMARY KEY (uri),
    CONSTRAINT follow_unique_subject UNIQUE (creator, "subjectDid")
)`,
  `CREATE TABLE IF NOT EXISTS actor_block (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "subjectDid" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    CONSTRAINT actor_block_pkey PRIMARY KEY (uri),
    CONSTRAINT actor_block_unique_subject UNIQUE (creator, "subjectDid")
)`,
  `CREATE TABLE IF NOT EXISTS profile (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "displayName" character varying,
    description character varying,
    "avatarCid" character varying,
    "bannerCid" character varying,
    "indexedAt" character varying NOT NULL,
    "joinedViaStarterPackUri" character varying,
    "createdAt" character varying NOT NULL,
    "pinnedPost" character varying,
    "pinnedPostCid" character varying,
    CONSTRAINT profile_pkey PRIMARY KEY (uri)
)`,
  `CREATE TABLE IF NOT EXISTS post_agg (
    uri character varying NOT NULL,
    "likeCount" bigint DEFAULT 0 NOT NULL,
    "replyCount" bigint DEFAULT 0 NOT NULL,
    "repostCount" bigint DEFAULT 0 NOT NULL,
    "quoteCount" bigint DEFAULT 0 NOT NULL,
    "bookmarkCount" bigint DEFAULT 0 NOT NULL,
    CONSTRAINT post_agg_pkey PRIMARY KEY (uri)
)`,
  `CREATE TABLE IF NOT EXISTS profile_agg (
    did character varying NOT NULL,
    "followersCount" bigint DEFAULT 0 NOT NULL,
    "followsCount" bigint DEFAULT 0 NOT NULL,
    "postsCount" bigint DEFAULT 0 NOT NULL,
    CONSTRAINT profile_agg_pkey PRIMARY KEY (did)
)`,
  `CREATE TABLE IF NOT EXISTS label (
    src character varying NOT NULL,
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    val character varying NOT NULL,
    neg boolean NOT NULL,
    cts character varying NOT NULL,
    exp character varying,
    CONSTRAINT label_pkey PRIMARY KEY (src, uri, cid, val)
)`,
  `CREATE TABLE IF NOT EXISTS duplicate_record (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    "duplicateOf" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    CONSTRAINT duplicate_record_pkey PRIMARY KEY (uri)
)`,
  `CREATE TABLE IF NOT EXISTS list (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    name character varying NOT NULL,
    purpose character varying NOT NULL,
    description character varying,
    "descriptionFacets" character varying,
    "avatarCid" character varying,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    CONSTRAINT list_pkey PRIMARY KEY (uri)
)`,
  `CREATE TABLE IF NOT EXISTS list_item (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "subjectDid" character varying NOT NULL,
    "listUri" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    CONSTRAINT list_item_pkey PRIMARY KEY (uri),
    CONSTRAINT list_item_unique_subject_in_list UNIQUE ("listUri", "subjectDid")
)`,
  `CREATE TABLE IF NOT EXISTS list_block (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "subjectUri" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    CONSTRAINT list_block_pkey PRIMARY KEY (uri),
    CONSTRAINT list_block_unique_subject UNIQUE (creator, "subjectUri")
)`,
  `CREATE TABLE IF NOT EXISTS feed_generator (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "feedDid" character varying NOT NULL,
    "displayName" character varying,
    description character varying,
    "descriptionFacets" character varying,
    "avatarCid" character varying,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    CONSTRAINT feed_generator_pkey PRIMARY KEY (uri)
)`,
  `CREATE TABLE IF NOT EXISTS starter_pack (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    name character varying,
    CONSTRAINT starter_pack_pkey PRIMARY KEY (uri)
)`,
  `CREATE TABLE IF NOT EXISTS labeler (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    CONSTRAINT labeler_pkey PRIMARY KEY (uri)
)`,
  `CREATE TABLE IF NOT EXISTS thread_gate (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "postUri" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    CONSTRAINT thread_gate_pkey PRIMARY KEY (uri),
    CONSTRAINT "thread_gate_postUri_key" UNIQUE ("postUri")
)`,
  `CREATE TABLE IF NOT EXISTS post_gate (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "postUri" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    CONSTRAINT post_gate_pkey PRIMARY KEY (uri),
    CONSTRAINT "post_gate_postUri_key" UNIQUE ("postUri")
)`,
  `CREATE TABLE IF NOT EXISTS verification (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    rkey character varying NOT NULL,
    creator character varying NOT NULL,
    subject character varying NOT NULL,
    handle character varying NOT NULL,
    "displayName" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortedAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    CONSTRAINT verification_pkey PRIMARY KEY (uri),
    CONSTRAINT verification_unique_subject_creator UNIQUE (subject, creator)
)`,
  `CREATE TABLE IF NOT EXISTS post_embed_image (
    "postUri" character varying NOT NULL,
    "position" character varying NOT NULL,
    "imageCid" character varying NOT NULL,
    alt character varying NOT NULL,
    CONSTRAINT post_embed_image_pkey PRIMARY KEY ("postUri", "position")
)`,
  `CREATE TABLE IF NOT EXISTS post_embed_external (
    "postUri" character varying NOT NULL,
    uri character varying NOT NULL,
    title character varying NOT NULL,
    description character varying NOT NULL,
    "thumbCid" character varying,
    CONSTRAINT post_embed_external_pkey PRIMARY KEY ("postUri")
)`,
  `CREATE TABLE IF NOT EXISTS post_embed_record (
    "postUri" character varying NOT NULL,
    "embedUri" character varying NOT NULL,
    "embedCid" character varying NOT NULL,
    CONSTRAINT post_embed_record_pkey PRIMARY KEY ("postUri", "embedUri")
)`,
  `CREATE TABLE IF NOT EXISTS post_embed_video (
    "postUri" character varying NOT NULL,
    "videoCid" character varying NOT NULL,
    alt character varying,
    CONSTRAINT post_embed_video_pkey PRIMARY KEY ("postUri")
)`,
  `CREATE TABLE IF NOT EXISTS post_embed_gallery_image (
    "postUri" character varying NOT NULL,
    "position" character varying NOT NULL,
    "imageCid" character varying NOT NULL,
    alt character varying NOT NULL,
    CONSTRAINT post_embed_gallery_image_pkey PRIMARY KEY ("postUri", "position")
)`,
  `CREATE TABLE IF NOT EXISTS quote (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    subject character varying NOT NULL,
    "subjectCid" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    CONSTRAINT quote_pkey PRIMARY KEY (uri)
)`,
  `CREATE INDEX IF NOT EXISTS actor_block_subjectdid_idx ON actor_block USING btree ("subjectDid")`,
  `CREATE INDEX IF NOT EXISTS duplicate_record_duplicate_of_idx ON duplicate_record USING btree ("duplicateOf")`,
  `CREATE INDEX IF NOT EXISTS feed_generator_creator_index ON feed_generator USING btree (creator)`,
  `CREATE INDEX IF NOT EXISTS feed_item_cursor_idx ON feed_item USING btree ("sortAt", cid)`,
  `CREATE INDEX IF NOT EXISTS feed_item_originator_cursor_idx ON feed_item USING btree ("originatorDid", "sortAt", cid)`,
  `CREATE INDEX IF NOT EXISTS feed_item_post_uri_idx ON feed_item USING btree ("postUri")`,
  `CREATE INDEX IF NOT EXISTS follow_creator_cursor_idx ON follow USING btree (creator, "sortAt", cid)`,
  `CREATE INDEX IF NOT EXISTS follow_subject_cursor_idx ON follow USING btree ("subjectDid", "sortAt", cid)`,
  `CREATE INDEX IF NOT EXISTS label_cts_idx ON label USING btree (cts)`,
  `CREATE INDEX IF NOT EXISTS label_uri_index ON label USING btree (uri)`,
  `CREATE INDEX IF NOT EXISTS labeler_order_by_idx ON labeler USING btree ("sortAt", cid)`,
  `CREATE INDEX IF NOT EXISTS like_creator_cursor_idx ON "like" USING btree (creator, "sortAt", cid)`,
  `CREATE INDEX IF NOT EXISTS like_subject_sort_at_creator_idx ON "like" USING btree (subject, "sortAt" DESC) INCLUDE (creator)`,
  `CREATE INDEX IF NOT EXISTS list_creator_idx ON list USING btree (creator)`,
  `CREATE INDEX IF NOT EXISTS list_item_creator_idx ON list_item USING btree (creator)`,
  `CREATE INDEX IF NOT EXISTS list_item_subject_idx ON list_item USING btree ("subjectDid")`,
  `CREATE INDEX IF NOT EXISTS post_creator_cursor_idx ON post USING btree (creator, "sortAt", cid)`,
  `CREATE INDEX IF NOT EXISTS post_order_by_idx ON post USING btree ("sortAt", cid)`,
  `CREATE INDEX IF NOT EXISTS post_replyparent_idx ON post USING btree ("replyParent") INCLUDE (uri)`,
  `CREATE INDEX IF NOT EXISTS profile_creator_idx ON profile USING btree (creator)`,
  `CREATE INDEX IF NOT EXISTS profile_starter_pack_joined_idx ON profile USING btree ("joinedViaStarterPackUri", "createdAt")`,
  `CREATE INDEX IF NOT EXISTS quote_subject_cursor_idx ON quote USING btree (subject, "sortAt", cid)`,
  `CREATE INDEX IF NOT EXISTS record_did_idx ON record USING btree (did)`,
  `CREATE INDEX IF NOT EXISTS repost_order_by_idx ON repost USING btree ("sortAt", cid)`,
  `CREATE INDEX IF NOT EXISTS repost_subject_idx ON repost USING btree (subject)`,
  `CREATE INDEX IF NOT EXISTS starter_pack_creator_order_by_idx ON starter_pack USING btree (creator, "sortAt", cid)`,
]
