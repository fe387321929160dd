import type { LexRecord } from '@firehose/streams'
import type { RecordModule, RecordRef, Row } from './types.js'
import { tableSpec } from './tables.js'
import { normalizeDatetime } from './util.js'

/**
 * A record type with one table and no aggregates (list, feed generator, gates, …): `columns`
 * are those besides uri, cid, creator, createdAt and indexedAt, which every such table has and
 * which are filled here; `row` gives them (null: not indexed beyond `record`).
 */
export function simpleModule(
  spec: Pick<RecordModule, 'collection' | 'uniqueGroup' | 'check' | 'gates' | 'replyPairs'> & {
    table: string
    columns: readonly string[]
    row(ref: RecordRef, record: LexRecord): Row | null
  },
): RecordModule {
  const { table, columns, row, ...rest } = spec
  return {
    ...rest,
    lexiconId: spec.collection,
    main: tableSpec(table, 'uri', ['uri', 'cid', 'creator', ...columns, 'createdAt', 'indexedAt'].join(',')),
    extra: [],
    toRows(ref, record) {
      const own = row(ref, record)
      if (!own) return null
      return {
        main: {
          uri: ref.uri,
          cid: ref.cid,
          creator: ref.did,
          ...own,
          createdAt: normalizeDatetime(record.createdAt),
          indexedAt: ref.indexedAt,
        },
        extra: [],
      }
    },
    aggKeys: () => [],
    aggKeysOfRecord: () => [],
  }
}
