import type { RecordModule } from './types.js'
import { feedItemTable, tableSpec, subjectColumns } from './tables.js'
import { lesser, normalizeDatetime, strongRef } from './util.js'

/** app.bsky.feed.repost → `repost` + a `feed_item`, counted in post_agg.repostCount. */
export const repost: RecordModule = {
  collection: 'app.bsky.feed.repost',
  lexiconId: 'app.bsky.feed.repost',
  main: tableSpec('repost', 'uri', subjectColumns),
  extra: [feedItemTable],
  uniqueGroup: ['creator', 'subject'],
  toRows(ref, record) {
    const subject = strongRef(record.subject)
    if (!subject) return null
    const via = strongRef(record.via)
    const createdAt = normalizeDatetime(record.createdAt)
    return {
      main: {
        uri: ref.uri,
        cid: ref.cid,
        creator: ref.did,
        subject: subject.uri,
        subjectCid: subject.cid,
        via: via?.uri ?? null,
        viaCid: via?.cid ?? null,
        createdAt,
        indexedAt: ref.indexedAt,
      },
      extra: [
        [
          {
            uri: ref.uri,
            cid: ref.cid,
            type: 'repost',
            postUri: subject.uri,
            originatorDid: ref.did,
            sortAt: lesser(ref.indexedAt, createdAt),
          },
        ],
      ],
    }
  },
  aggregates: [
    {
      kind: 'repostCount',
      table: 'post_agg',
      count: `SELECT count(*) FROM repost WHERE subject = x.k`,
      rows: { base: 'repost', column: 'subject' },
      delta: true,
    },
  ],
  aggKeys: (row) => [{ kind: 'repostCount', key: String(row.subject) }],
  aggKeysOfRecord(_ref, record) {
    const subject = strongRef(record.subject)
    return subject ? [{ kind: 'repostCount', key: subject.uri }] : []
  },
}
