import { writesBeyondHorizon } from '../../tombstones/horizon.js'
import { upstreamStatus } from '../actors.js'
import { compareOps, isWrite } from '../prepare.js'
import type { BatchState, OutcomeStatus } from './state.js'

/**
 * The rev gate: each winner against its stored version and tombstone. A write applies when it
 * is >= the stored version and newer than the tombstone, a delete when its rev is >= the stored
 * rev; the writes of deleted accounts (already, or by this batch's last account event) are stale.
 */
export function gateWinners(b: BatchState): void {
  const { deleted, stored, tombstones } = b
  for (const [did, e] of b.lastAccount) {
    if (upstreamStatus(e) === 'deleted') deleted.add(did)
    else deleted.delete(did)
  }
  for (const w of b.winners) {
    const cur = stored.get(w.uri)
    const tomb = tombstones.get(w.uri)?.rev
    let status: OutcomeStatus
    if (deleted.has(w.did)) status = 'stale'
    else if (isWrite(w)) {
      const cid = w.event.cid
      if (tomb !== undefined && w.rev <= tomb) status = 'stale'
      else if (cur && cur.rev !== null && (w.rev < cur.rev || (w.rev === cur.rev && cid < cur.cid))) status = 'stale'
      else if (cur && cur.rev === w.rev && cur.cid === cid) status = 'unchanged'
      else status = 'applied'
      if (status === 'applied') b.writes.push(w)
    } else {
      if (cur && cur.rev !== null && w.rev < cur.rev) status = 'stale'
      else if (!cur && tomb !== undefined && tomb > w.rev) status = 'stale'
      else if (!cur && tomb === w.rev) status = 'unchanged'
      else status = 'applied'
      if (status === 'applied') b.deletes.push(w)
    }
    b.outcomes.set(w.index, { status })
  }
}

/**
 * Writes of uris with neither a record nor a tombstone, older than the pruned tombstones:
 * possibly a deleted record's late create (tombstones/horizon.ts). They are stale.
 */
export function dropWritesBeyondHorizon(b: BatchState): void {
  const { writes } = b
  const late = writesBeyondHorizon(
    b.horizon,
    writes.filter((w) => !b.stored.has(w.uri) && !b.tombstones.has(w.uri)).map((w) => w.event),
  )
  if (late.size > 0) {
    for (let i = writes.length - 1; i >= 0; i--) {
      const w = writes[i] as (typeof writes)[number]
      if (!late.has(w.event)) continue
      b.outcomes.set(w.index, { status: 'stale', beyondHorizon: true })
      writes.splice(i, 1)
    }
  }
}

/** An event that lost to another of its uri in the batch: unchanged if equal to the winner, else stale. */
export function settleLosers(b: BatchState): void {
  const winnerOf = new Map(b.winners.map((w) => [w.uri, w]))
  for (const l of b.losers) {
    const w = winnerOf.get(l.uri)
    const same = w !== undefined && compareOps(l, w) === 0
    b.outcomes.set(l.index, same ? { status: 'unchanged' } : { status: 'stale' })
  }
}
