import type { LexRecord } from '@firehose/streams'
import { post, replyRef } from '../../records/post.js'
import type { RecordModule } from '../../records/index.js'
import type { ModuleRows } from '../derived.js'
import { isWrite, type RecordOp } from '../prepare.js'
import { replyAncestors } from '../notifications.js'
import { lockWithFloors } from '../reconcile.js'
import { lockBatch } from '../sql.js'
import { rowsOfWrite } from './rows-of-write.js'
import type { BatchState } from './state.js'

/**
 * Lock what the batch writes: the DIDs (those of account and identity events, and of `repo`
 * events, exclusively), the uris, the uris read (shared: also the stored ancestors above a new
 * reply's parent, which its notification rows name, so that a batch deleting one of them waits
 * for the reply or is seen by it: writer/notify-ancestors.test.ts), and the unique groups and reply pairs
 * of the new versions; those of stored versions (deletes, updates) once the version lookup has
 * read them (lockStoredGroups). With the DIDs locked, the snapshot floors (writer/reconcile.ts):
 * ops below their DID's floor are stale (taken out of `ops`), a raised floor adds deletes.
 */
export async function lockNewVersions(b: BatchState): Promise<void> {
  b.newGroups = groupKeys(b.ops.filter(isWrite), new Map())
  // The stored ancestors above a new reply's parent, which its notification rows name: read
  // before the locks, so that they are taken with the others, in the global order (taken after
  // them, out of order, batches waited on them and could deadlock; an ancestor written in between is not locked).
  const parents = b.notifications
    ? b.ops.flatMap((o) => (o.collection === post.collection && isWrite(o) ? (replyRef(o.event.record, 'parent')?.uri ?? []) : []))
    : []
  const { ancestors: reads, absent } = await replyAncestors(b.trx, parents)
  b.absentAncestors = absent
  b.ancestorsLocked = new Set(reads)
  b.floors = await lockWithFloors(b.trx, {
    exclusiveDids: [...b.accounts, ...b.identities.map((i) => i.event)].map((e) => e.did),
    repos: b.repos,
    ops: b.ops,
    groups: b.newGroups,
    reads,
  })
  for (const op of b.floors.stale) b.outcomes.set(op.index, { status: 'stale' })
  // the keys of stale ops too: whether a write won does not change which aggregate rows exist
  b.aggs = [...b.ops, ...b.floors.stale].flatMap((o) => o.aggKeys)
}

/**
 * The ancestors of the batch's replies that were not stored when they were read before the
 * locks (a parent written by another batch meanwhile, whose lock this batch then waited for, and
 * the ancestors above it, named by its row): locked now, shared, before the notification
 * statement reads them. Without it, a batch writing such an ancestor at the same time and this
 * one each miss the other's uncommitted post: its pass over its descendants does not see this
 * reply, and this reply's rows do not see it (a `reply` row missing; seen in the bench mix, whose
 * replies name their parent as root). Read again only above where a chain stopped short at the
 * first read: a parent, or an ancestor, not stored then (a reply before its parent; a parent
 * before its own: writer/notify-ancestors.test.ts); locked out of the global order, so it may
 * deadlock (retried).
 */
export async function lockLateAncestors(b: BatchState): Promise<void> {
  if (!b.notifications || b.deferred || b.absentAncestors.length === 0) return
  const held = new Set(b.ops.flatMap((o) => [...o.locks, ...o.sharedLocks]))
  const late = (await replyAncestors(b.trx, b.absentAncestors)).ancestors.filter((u) => !b.ancestorsLocked.has(u) && !held.has(u))
  if (late.length > 0) await lockBatch(b.trx, [], [], [], late)
}

/**
 * Lock the unique groups and reply pairs of the stored versions the applied ops replace, and
 * (shared) the records those versions read: a deleted reply's parent and root, a deleted quote's
 * quoted post. A batch writing that parent recomputes the notifications of its replies from what
 * it sees; without the lock it could see the reply another batch is deleting and write them back.
 */
export async function lockStoredGroups(b: BatchState): Promise<void> {
  const held = (k: string, exclusive: boolean): boolean => b.newGroups.get(k) === true || (b.newGroups.has(k) && !exclusive)
  const replaced = [...b.writes, ...b.deletes]
  b.storedKeys = groupKeys(replaced, b.storedJson, false)
  const storedGroups = [...b.storedKeys].filter(([k, x]) => !held(k, x))
  const lockedUris = new Set(b.ops.flatMap((o) => [...o.locks, ...o.sharedLocks]))
  const storedReads = new Set<string>()
  const storedParents: string[] = []
  for (const op of replaced) {
    const json = b.storedJson.get(op.uri)
    if (json === undefined || !op.module?.reads) continue
    const record = JSON.parse(json) as LexRecord
    for (const uri of op.module.reads(op.did, record)) if (!lockedUris.has(uri)) storedReads.add(uri)
    const parent = op.collection === post.collection ? replyRef(record, 'parent')?.uri : undefined
    if (parent !== undefined) storedParents.push(parent)
  }
  // And the stored ancestors above a replaced reply's parent (to bsky's depth): a batch writing
  // or deleting one of them recomputes this reply's rows in its pass over its descendants, from
  // what it sees; without the lock it could see the reply this batch is deleting, and add rows
  // for it after this batch removed them (writer/notify-ancestors.test.ts).
  if (b.notifications && storedParents.length > 0)
    for (const uri of (await replyAncestors(b.trx, storedParents)).ancestors) if (!lockedUris.has(uri)) storedReads.add(uri)
  // (a deadlock with another batch doing the same is possible here, and retried)
  if (storedGroups.length || storedReads.size) await lockBatch(b.trx, [], [], [], [...storedReads], new Map(storedGroups))
}

/**
 * The unique groups (one like per creator and subject) that applied ops may change: the group
 * of each new version and of each stored version. Two batches writing different members of one
 * group (a like and a second like of the same post) lock each other out on it, so that each
 * resolves the group from what the other committed. Taken after the uri locks (a batch holding
 * group locks waits for no uri lock) and in sorted order: no deadlock.
 */
export function groupKeys(ops: readonly RecordOp[], storedJson: ReadonlyMap<string, string>, newVersions = true): Map<string, boolean> {
  const keys = new Map<string, boolean>()
  const add = (module: RecordModule, rows: ModuleRows | null): void => {
    const group = module.uniqueGroup
    if (group && rows) keys.set(`${module.main.table}:${JSON.stringify(group.map((c) => rows.main[c] ?? null))}`, true)
  }
  for (const op of ops) {
    const module = op.module
    if (!module) continue
    for (const { record, cid, fresh } of versionsOf(op, storedJson, newVersions)) {
      if (module.uniqueGroup) {
        add(
          module,
          fresh && isWrite(op)
            ? rowsOfWrite(op)
            : module.toRows({ uri: op.uri, did: op.did, collection: op.collection, rkey: op.rkey, cid, indexedAt: op.time }, record),
        )
      }
      // The reply permissions a follow or list item changes, or a reply reads (post-flags.ts).
      const pairs = module.replyPairs
      if (pairs) for (const k of pairs.keys(op.did, record)) keys.set(`pair:${k}`, pairs.exclusive || keys.get(`pair:${k}`) === true)
    }
  }
  return keys
}

/** The new version of an op (writes) and its stored version (unique-group types). */
function versionsOf(
  op: RecordOp,
  storedJson: ReadonlyMap<string, string>,
  newVersion = true,
): { record: LexRecord; cid: string; fresh: boolean }[] {
  const out: { record: LexRecord; cid: string; fresh: boolean }[] = []
  if (newVersion && isWrite(op)) out.push({ record: op.event.record, cid: op.event.cid, fresh: true })
  const json = storedJson.get(op.uri)
  if (json !== undefined) out.push({ record: JSON.parse(json) as LexRecord, cid: '', fresh: false })
  return out
}

/**
 * `owner|replier` pairs whose reply permission the batch's follows and list items change: the
 * pairs groupKeys locked exclusively.
 */
export function changedReplyPairs(keyMaps: readonly ReadonlyMap<string, boolean>[]): string[] {
  const out = new Set<string>()
  for (const keys of keyMaps) for (const [k, exclusive] of keys) if (exclusive && k.startsWith('pair:')) out.add(k.slice('pair:'.length))
  return [...out]
}
