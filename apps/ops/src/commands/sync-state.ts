/**
 * `ops sync-state get <did>...`: a repo's sync 1.1 state as the ingesters and backfillers share it
 * (packages/streams/src/sync-state.ts): status, last rev, data CID, the run of commits written
 * while desynchronized, the unconfirmed claim, the resync lease. Read-only.
 */
import { cidBytesToString } from '@firehose/atproto'
import { SyncStateStore } from '@firehose/streams'
import { checkDid } from '../args.js'
import type { Command } from '../command.js'
import { positionals, str } from '../context.js'

interface SyncStateRow {
  did: string
  status: string | null
  rev: string | null
  data: string | null
  /** desynchronized: the run of commits written since the break */
  run: { from: string; prevData: string } | null
  /** who moved the state and has not confirmed the commit written yet */
  claim: string | null
  /** ms left of the resync lease (null: none) */
  resyncLeaseMs: number | null
}

export const syncStateCommands: Command[] = [
  {
    name: 'sync-state get',
    usage: 'sync-state get <did>... [--prefix sync_state]',
    summary: "repos' sync 1.1 state: status, rev, data, run, claim, resync lease",
    options: { prefix: { type: 'string' } },
    async run(ctx) {
      const dids = positionals(ctx.args, 'sync-state get', 1, 1000, '<did>').map((d) => checkDid(d))
      const prefix = str(ctx.args, 'prefix') ?? 'sync_state'
      const redis = await ctx.redis()
      const store = new SyncStateStore({ redis, keyPrefix: prefix })
      const rows: SyncStateRow[] = []
      for (const did of dids) {
        const [state, claim, ttl] = await Promise.all([store.get(did), store.claimOf(did), redis.pttl(store.resyncKey(did))])
        rows.push({
          did,
          status: state?.status ?? null,
          rev: state?.rev ?? null,
          data: state?.data ? cidBytesToString(state.data) : null,
          run: state?.run ? { from: state.run.rev, prevData: cidBytesToString(state.run.prevData) } : null,
          claim,
          resyncLeaseMs: ttl >= 0 ? ttl : null,
        })
      }
      ctx.print(rows, [
        { header: 'did', value: (r) => r.did },
        { header: 'status', value: (r) => r.status ?? '(no state)' },
        { header: 'rev', value: (r) => r.rev ?? '' },
        { header: 'data', value: (r) => r.data ?? '' },
        { header: 'run from', value: (r) => r.run?.from ?? '' },
        { header: 'claim', value: (r) => r.claim ?? '' },
        { header: 'resync lease', value: (r) => (r.resyncLeaseMs === null ? '' : `${Math.ceil(r.resyncLeaseMs / 1000)} s`) },
      ])
    },
  },
]
