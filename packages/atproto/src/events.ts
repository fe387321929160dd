/**
 * Stream event shapes (docs/design.md "Entry layout"): the one definition lives in
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
