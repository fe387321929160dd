import type { TableSpec } from './types.js'

const t = (table: string, keyColumn: string, cols: string, types: Record<string, 'jsonb' | 'bool'> = {}): TableSpec => ({
  table,
  keyColumn,
  columns: cols.split(',').map((name) => ({ name, type: types[name] ?? 'text' })),
})

/** Column lists shared by several record types (insert order of the writer). */
export const feedItemTable = t('feed_item', 'uri', 'uri,cid,type,postUri,originatorDid,sortAt')
export const subjectColumns = 'uri,cid,creator,subject,subjectCid,via,viaCid,createdAt,indexedAt'
export const graphColumns = 'uri,cid,creator,subjectDid,createdAt,indexedAt'
export { t as tableSpec }
