import type { RedisClient } from '../redis.js'

export const XADD_BATCH = 'firehoseXaddBatch'
// ARGV: for each entry, its field count then its fields and values.
const XADD_BATCH_LUA = `
local i = 1
local n = #ARGV
while i <= n do
  local c = tonumber(ARGV[i])
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + c))
  i = i + c + 1
end
return redis.call('XLEN', KEYS[1])`

// ARGV[1]: the batch as one MessagePack array of entries, each an array of its fields and values
// (strings), unpacked by Redis's built-in cmsgpack: one argument per batch instead of three per
// entry, which is most of the client-side cost of a batch.
export const XADD_PACKED = 'firehoseXaddPacked'
const XADD_PACKED_LUA = `
local entries = cmsgpack.unpack(ARGV[1])
for i = 1, #entries do
  redis.call('XADD', KEYS[1], '*', unpack(entries[i]))
end
return redis.call('XLEN', KEYS[1])`

/** A client with both scripts defined (see defineXaddBatch). */
export type XaddScriptClient = Record<typeof XADD_BATCH, (key: string, ...args: (string | Buffer)[]) => Promise<unknown>> &
  Record<typeof XADD_PACKED, (key: string, packed: Buffer) => Promise<unknown>>

/** Define the batch XADD scripts on the client (once; ioredis then calls them by EVALSHA). */
export function defineXaddBatch(redis: RedisClient): void {
  const r = redis as unknown as Partial<XaddScriptClient>
  if (typeof r[XADD_BATCH] !== 'function') redis.defineCommand(XADD_BATCH, { numberOfKeys: 1, lua: XADD_BATCH_LUA })
  if (typeof r[XADD_PACKED] !== 'function') redis.defineCommand(XADD_PACKED, { numberOfKeys: 1, lua: XADD_PACKED_LUA })
}
