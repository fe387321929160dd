import { ensureServices } from './services-env.mjs'

/** Start (or find) the local Redis / Postgres / pgbouncer and export their URLs to the tests. */
export default function setup(): void {
  ensureServices(['REDIS_URL', 'DATABASE_URL'])
}
