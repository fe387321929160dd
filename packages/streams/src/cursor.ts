import { cursorKey } from './names.js'
import type { RedisClient } from './redis.js'

/**
 * Per-host cursors at `<stream>:cursor:<host>`. A plain string key, written on its own after the
 * entries it covers are in Redis (never in a MULTI with the stream: that is CROSSSLOT on a cluster).
 */
export class CursorStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly stream: string,
  ) {}
  key(host: string): string {
    return cursorKey(this.stream, host)
  }
  async get(host: string): Promise<string | null> {
    return this.redis.get(this.key(host))
  }
  async getNumber(host: string): Promise<number | null> {
    const v = await this.get(host)
    if (v === null) return null
    const n = Number(v)
    return Number.isFinite(n) ? n : null
  }
  async set(host: string, value: string | number): Promise<void> {
    await this.redis.set(this.key(host), String(value))
  }
}
