import type { Generated } from 'kysely'

/**
 * Kysely types of the tables the indexer writes. Names and types are @atproto/bsky's
 * (camelCase columns, ISO timestamps as varchar), plus the indexer's own bookkeeping.
 */
export interface RecordTable {
  uri: string
  cid: string
  did: string
  json: string
  indexedAt: string
  takedownRef: string | null
  tags: unknown
  /** Repo revision (TID) of the commit that wrote this version; null for rows bsky wrote. */
  rev: string | null
}

export interface RecordTombstoneTable {
  uri: string
  did: string
  rev: string
  deletedAt: string
  /** The rev of the version the delete removed (types with `softDelete` rows only). */
  versionRev: string | null
}

export interface ActorTable {
  did: string
  handle: string | null
  indexedAt: string
  takedownRef: string | null
  upstreamStatus: string | null
}

export interface ActorSyncTable {
  did: string
  commitCid: string
  repoRev: string | null
}

export interface PostTable {
  uri: string
  cid: string
  creator: string
  text: string
  replyRoot: string | null
  replyRootCid: string | null
  replyParent: string | null
  replyParentCid: string | null
  createdAt: string
  indexedAt: string
  sortAt: Generated<string>
  langs: unknown
  tags: unknown
  invalidReplyRoot: boolean | null
  violatesThreadGate: boolean | null
  violatesEmbeddingRules: boolean | null
  hasThreadGate: boolean | null
  hasPostGate: boolean | null
}

export interface FeedItemTable {
  uri: string
  cid: string
  type: 'post' | 'repost'
  postUri: string
  originatorDid: string
  sortAt: string
}

export interface SubjectRecordTable {
  uri: string
  cid: string
  creator: string
  subject: string
  subjectCid: string
  via: string | null
  viaCid: string | null
  createdAt: string
  indexedAt: string
  sortAt: Generated<string>
}

export interface GraphTable {
  uri: string
  cid: string
  creator: string
  subjectDid: string
  createdAt: string
  indexedAt: string
  sortAt: Generated<string>
}

export interface ProfileTable {
  uri: string
  cid: string
  creator: string
  displayName: string | null
  description: string | null
  avatarCid: string | null
  bannerCid: string | null
  joinedViaStarterPackUri: string | null
  createdAt: string
  indexedAt: string
  pinnedPost: string | null
  pinnedPostCid: string | null
}

export interface PostAggTable {
  uri: string
  likeCount: Generated<string>
  replyCount: Generated<string>
  repostCount: Generated<string>
  quoteCount: Generated<string>
  bookmarkCount: Generated<string>
}

export interface ProfileAggTable {
  did: string
  followersCount: Generated<string>
  followsCount: Generated<string>
  postsCount: Generated<string>
}

export interface LabelTable {
  src: string
  uri: string
  cid: string
  val: string
  neg: boolean
  cts: string
  exp: string | null
}

export interface DuplicateRecordTable {
  uri: string
  cid: string
  duplicateOf: string
  indexedAt: string
}

export interface IndexerMigrationTable {
  name: string
  appliedAt: string
}

export interface DatabaseSchema {
  record: RecordTable
  record_tombstone: RecordTombstoneTable
  actor: ActorTable
  actor_sync: ActorSyncTable
  post: PostTable
  feed_item: FeedItemTable
  like: SubjectRecordTable
  repost: SubjectRecordTable
  follow: GraphTable
  actor_block: GraphTable
  profile: ProfileTable
  post_agg: PostAggTable
  profile_agg: ProfileAggTable
  label: LabelTable
  duplicate_record: DuplicateRecordTable
  indexer_migration: IndexerMigrationTable
}
