import { sql } from 'kysely'
import { HORIZON_KEY, HORIZON_ROW } from '../../tombstones/horizon.js'
import { reduceOps } from '../prepare.js'
import type { BatchState } from './state.js'

/**
 * Same-batch reduction (each uri's events to their winner), then the stored versions of the
 * winners: record (and its json for unique-group types and types that read others: the group its stored version is in, what it reads,
 * locked by lockStoredGroups), tombstone, the accounts already deleted and the tombstone
 * horizon, in one statement. The LATERAL … LIMIT 1 subqueries make one index probe per uri: as
 * plain joins the planner hashed the whole `record` table (a seq scan per batch) while it had
 * fewer than a few hundred thousand rows.
 */
export async function readStoredVersions(b: BatchState): Promise<void> {
  const { winners, losers } = reduceOps(b.ops)
  b.winners = winners
  b.losers = losers
  const uris = winners.map((w) => w.uri)
  const opDids = [...new Set(b.ops.map((o) => o.did))]
  if (uris.length) {
    // The stored json of unique-group types (the group its stored version is in) and of types
    // that read other records (a reply's parent and root, a quoted post): locked below.
    const grouped = winners.map((w) => w.module?.uniqueGroup !== undefined || w.module?.reads !== undefined)
    const rows = await sql<{
      uri: string
      cid: string | null
      rev: string | null
      trev: string | null
      tdel: string | null
      tver: string | null
      stored: boolean
      json: string | null
    }>`
      SELECT u.uri, r.cid, r.rev, t.rev AS trev, t."deletedAt" AS tdel, t."versionRev" AS tver, r.uri IS NOT NULL AS stored, CASE WHEN u.g THEN r.json END AS json
      FROM unnest(${uris}::text[], ${grouped}::boolean[]) AS u(uri, g)
      LEFT JOIN LATERAL (SELECT uri, cid, rev, json FROM record WHERE uri = u.uri LIMIT 1) r ON true
      LEFT JOIN LATERAL (SELECT uri, rev, "deletedAt", "versionRev" FROM record_tombstone WHERE uri = u.uri LIMIT 1) t ON true
      WHERE r.uri IS NOT NULL OR t.uri IS NOT NULL
      UNION ALL
      SELECT a.did, NULL, NULL, NULL, NULL, NULL, false, NULL FROM unnest(${opDids}::text[]) AS d(did)
      JOIN LATERAL (SELECT did FROM actor WHERE did = d.did AND "upstreamStatus" = 'deleted' LIMIT 1) a ON true
      UNION ALL
      ${HORIZON_ROW}`.execute(b.trx)
    for (const r of rows.rows) {
      if (r.uri === HORIZON_KEY) b.horizon = r.tdel
      else if (!r.uri.startsWith('at://')) b.deleted.add(r.uri)
      else {
        if (r.stored) b.stored.set(r.uri, { cid: r.cid ?? '', rev: r.rev })
        if (r.json !== null) b.storedJson.set(r.uri, r.json)
        if (r.trev !== null) b.tombstones.set(r.uri, { rev: r.trev, time: r.tdel ?? '', versionRev: r.tver })
      }
    }
  }
}
