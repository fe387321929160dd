/**
 * The newest `account` and `identity` event applied per DID (time, then seq), so that a
 * redelivered older event (reclaimed, replayed) cannot revert an actor's status or handle.
 */
export const name = '0003-actor-event-versions'

export const statements: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS indexer_actor_state (
    did character varying NOT NULL,
    "statusTime" character varying,
    "statusSeq" bigint,
    "handleTime" character varying,
    "handleSeq" bigint,
    CONSTRAINT indexer_actor_state_pkey PRIMARY KEY (did)
)`,
]
