/**
 * Stream event shapes (DESIGN.md "Redis streams and keys"): the one definition lives in
 * `@firehose/streams`, the owner of the wire format.
 */
export type {
  AccountEvent,
  IdentityEvent,
  Label,
  RecordDeleteEvent,
  RecordWriteEvent,
  RepoEvent,
  StreamEvent,
} from '@firehose/streams'
