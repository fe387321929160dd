import { block } from './block.js'
import { feedGenerator } from './feed-generator.js'
import { follow } from './follow.js'
import { postGate, threadGate } from './gates.js'
import { labeler } from './labeler.js'
import { like } from './like.js'
import { list } from './list.js'
import { listBlock } from './list-block.js'
import { listItem } from './list-item.js'
import { post } from './post.js'
import { profile } from './profile.js'
import { referenceListOptOut } from './reference-list-opt-out.js'
import { repost } from './repost.js'
import { starterPack } from './starter-pack.js'
import { verification } from './verification.js'
import type { RecordModule } from './types.js'

export { AGG_KINDS } from './types.js'
export type { RecordModule, RecordRef, Row, AggKey, AggKind, AggTable, AggregateCount, TableSpec } from './types.js'

/**
 * The record types indexed beyond `record`. Every other collection is kept in `record` only
 * (as bsky keeps chat.bsky.actor.declaration, app.bsky.notification.declaration and
 * app.bsky.actor.status: in `record`, with no table of their own).
 */
export const recordModules: readonly RecordModule[] = [
  post,
  like,
  repost,
  follow,
  block,
  profile,
  list,
  listItem,
  listBlock,
  feedGenerator,
  starterPack,
  labeler,
  threadGate,
  postGate,
  verification,
  referenceListOptOut,
]

const byCollection = new Map(recordModules.map((m) => [m.collection, m]))

export const moduleFor = (collection: string): RecordModule | undefined => byCollection.get(collection)
