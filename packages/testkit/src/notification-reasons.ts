/**
 * Every `notification.reason` @atproto/bsky 0.0.280 writes: the differential and
 * order-insensitivity workloads must reach each one (apps/indexer's and tools/pipeline's tests).
 */
export const NOTIFICATION_REASONS: readonly string[] = [
  'like',
  'like-via-repost',
  'repost',
  'repost-via-repost',
  'follow',
  'mention',
  'quote',
  'reply',
  'starterpack-joined',
  'verified',
  'unverified',
]
