/**
 * Re-backfill reconciliation (writer/reconcile.ts): `indexer_snapshot_floor` holds, per DID,
 * the greatest rev of a backfilled snapshot (`repo` event) seen. Records of the DID below it
 * are deleted when it rises, and later writes below it are skipped. Small (one row per DID
 * ever backfilled), written only by `repo` events.
 */
export const name = '0010-snapshot-floor'

export const statements: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS indexer_snapshot_floor (
    did character varying NOT NULL,
    rev character varying NOT NULL,
    CONSTRAINT indexer_snapshot_floor_pkey PRIMARY KEY (did)
)`,
]
