/** Stream and key names of docs/design.md, and the optional Redis Cluster sharding by DID. */

export const STREAMS = {
  firehoseLive: 'firehose_live',
  firehoseBackfill: 'firehose_backfill',
  labelLive: 'label_live',
  repoBackfill: 'repo_backfill',
} as const

export const GROUPS = {
  indexer: 'indexer_group',
  label: 'label_group',
  repoBackfill: 'repo_backfill_group',
} as const

/** Value of a listRepos cursor once the listing has ended. */
export const CURSOR_DONE = '!ingester-done'

export const dlqStreamName = (stream: string): string => `${stream}_dlq`

/**
 * Host part of a cursor key: the earlier workers strip the scheme (`https://bsky.network` →
 * `bsky.network`); we also strip `wss://`, `ws://` and a trailing slash.
 */
export function cursorHost(host: string): string {
  return host.replace(/^(https?|wss?):\/\//, '').replace(/\/+$/, '')
}

export const cursorKey = (stream: string, host: string): string => `${stream}:cursor:${cursorHost(host)}`

/** FNV-1a 32-bit: stable across processes and languages, cheap on the hot path. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** `<name>:{<n>}`: the braces make `n` the Redis Cluster hash tag. */
export const shardName = (name: string, shard: number): string => `${name}:{${shard}}`

/** The stream a DID's events go to: the plain name with one shard (the default). */
export function streamForDid(name: string, did: string, shards: number): string {
  if (shards <= 1) return name
  return shardName(name, fnv1a(did) % shards)
}

/**
 * The stream a label goes to: sharded by the DID of its subject (`at://<did>/…` or the DID
 * itself), so that every label on one subject, and its negation, stay in one shard, in order.
 */
export function streamForLabel(name: string, uri: string, shards: number): string {
  if (shards <= 1) return name
  const did = uri.startsWith('at://') ? (uri.slice(5).split('/')[0] ?? uri) : uri
  return streamForDid(name, did, shards)
}

/** Every stream of a (possibly sharded) logical stream. */
export function allShards(name: string, shards: number): string[] {
  if (shards <= 1) return [name]
  return Array.from({ length: shards }, (_, i) => shardName(name, i))
}
