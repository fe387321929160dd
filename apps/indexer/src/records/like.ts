import type { RecordModule } from './types.js'
import { tableSpec, subjectColumns } from './tables.js'
import { normalizeDatetime, strongRef } from './util.js'

/** app.bsky.feed.like → `like` (one per creator and subject), counted in post_agg.likeCount. */
export const like: RecordModule = {
  collection: 'app.bsky.feed.like',
  lexiconId: 'app.bsky.feed.like',
  main: tableSpec('like', 'uri', subjectColumns),
  extra: [],
  uniqueGroup: ['subject', 'creator'],
  toRows(ref, record) {
    const subject = strongRef(record.subject)
    if (!subject) return null
    const via = strongRef(record.via)
    return {
      main: {
        uri: ref.uri,
        cid: ref.cid,
        creator: ref.did,
        subject: subject.uri,
        subjectCid: subject.cid,
        via: via?.uri ?? null,
        viaCid: via?.cid ?? null,
        createdAt: normalizeDatetime(record.createdAt),
        indexedAt: ref.indexedAt,
      },
      extra: [],
    }
  },
  aggregates: [
    {
      kind: 'likeCount',
      table: 'post_agg',
      count: `SELECT count(*) FROM "like" WHERE subject = x.k`,
      rows: { base: 'like', column: 'subject' },
      delta: true,
    },
  ],
  aggKeys: (row) => [{ kind: 'likeCount', key: String(row.subject) }],
  aggKeysOfRecord(_ref, record) {
    const subject = strongRef(record.subject)
    return subject ? [{ kind: 'likeCount', key: subject.uri }] : []
  },
}
