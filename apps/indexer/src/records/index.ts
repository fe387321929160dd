import { block } from './block.js'
import { follow } from './follow.js'
import { like } from './like.js'
import { post } from './post.js'
import { profile } from './profile.js'
import { repost } from './repost.js'
import type { RecordModule } from './types.js'

export type { RecordModule, RecordRef, Row, AggKey, AggKind, TableSpec } from './types.js'

/** The record types indexed beyond `record`. Every other collection is kept in `record` only. */
export const recordModules: readonly RecordModule[] = [post, like, repost, follow, block, profile]

const byCollection = new Map(recordModules.map((m) => [m.collection, m]))

export const moduleFor = (collection: string): RecordModule | undefined => byCollection.get(collection)
