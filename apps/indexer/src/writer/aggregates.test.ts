import { describe, expect, it } from 'vitest'
import { like } from '../records/like.js'
import { recordModules } from '../records/index.js'
import { aggregateTables } from './aggregates.js'

describe('aggregate tables from the record modules', () => {
  it('lists every counter once, in its table, in AGG_KINDS order', () => {
    const tables = aggregateTables(recordModules)
    expect([...tables].map(([t, s]) => [t, s.key, Object.keys(s.counts)])).toEqual([
      ['post_agg', 'uri', ['likeCount', 'repostCount', 'replyCount', 'quoteCount']],
      ['profile_agg', 'did', ['followersCount', 'followsCount', 'postsCount']],
    ])
  })

  it('refuses a counter declared twice or by no module', () => {
    expect(() => aggregateTables([...recordModules, like])).toThrow('likeCount is counted by two record modules')
    expect(() => aggregateTables(recordModules.filter((m) => m !== like))).toThrow('no record module counts aggregate likeCount')
  })
})
