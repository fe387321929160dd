import type { RecordModule } from './types.js'
import { graphColumns, tableSpec } from './tables.js'
import { normalizeDatetime } from './util.js'

/** app.bsky.graph.follow → `follow`, counted in profile_agg followersCount / followsCount. */
export const follow: RecordModule = {
  collection: 'app.bsky.graph.follow',
  lexiconId: 'app.bsky.graph.follow',
  main: tableSpec('follow', 'uri', graphColumns),
  extra: [],
  uniqueGroup: ['creator', 'subjectDid'],
  // a thread gate's followingRule (owner follows replier) and followerRule (the other way)
  replyPairs: {
    exclusive: true,
    keys: (did, record) => (typeof record.subject === 'string' ? [`${did}|${record.subject}`, `${record.subject}|${did}`] : []),
  },
  toRows(ref, record) {
    if (typeof record.subject !== 'string') return null
    return {
      main: {
        uri: ref.uri,
        cid: ref.cid,
        creator: ref.did,
        subjectDid: record.subject,
        createdAt: normalizeDatetime(record.createdAt),
        indexedAt: ref.indexedAt,
      },
      extra: [],
    }
  },
  aggregates: [
    {
      kind: 'followersCount',
      table: 'profile_agg',
      count: `SELECT count(*) FROM follow WHERE "subjectDid" = x.k`,
      rows: { base: 'follow', column: 'subjectDid' },
      delta: true,
    },
    {
      kind: 'followsCount',
      table: 'profile_agg',
      count: `SELECT count(*) FROM follow WHERE creator = x.k`,
      rows: { base: 'follow', column: 'creator' },
      delta: true,
    },
  ],
  aggKeys: (row) => [
    { kind: 'followersCount', key: String(row.subjectDid) },
    { kind: 'followsCount', key: String(row.creator) },
  ],
  aggKeysOfRecord(ref, record) {
    const keys: ReturnType<RecordModule['aggKeysOfRecord']> = [{ kind: 'followsCount', key: ref.did }]
    if (typeof record.subject === 'string') keys.push({ kind: 'followersCount', key: record.subject })
    return keys
  },
}
