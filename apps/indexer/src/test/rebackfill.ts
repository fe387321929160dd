import type { RecordDeleteEvent, RecordWriteEvent, StreamEvent } from '@firehose/streams'
import { cidFor } from './events.js'

const isRecordOp = (e: StreamEvent): e is RecordWriteEvent | RecordDeleteEvent =>
  e.type === 'create' || e.type === 'update' || e.type === 'delete'

/** Indexes in `history` of `did`'s record ops. */
export const opsOf = (history: readonly StreamEvent[], did: string): number[] =>
  history.flatMap((e, i) => (e.did === did && isRecordOp(e) ? [i] : []))

const revAt = (history: readonly StreamEvent[], i: number): string => {
  const e = history[i]
  if (!e || !isRecordOp(e)) throw new Error(`no record op at ${i}`)
  return e.rev
}

/**
 * The backfiller's output for `did` as of history index `at` (a record op of `did`): the
 * records live after every op of `did` with a rev up to that op's rev, as `create`s at that
 * rev (the last version's cid, record and time, so derived rows match the full history's),
 * then the `repo` event.
 */
export function snapshotAt(history: readonly StreamEvent[], did: string, at: number): { rev: string; events: StreamEvent[] } {
  const rev = revAt(history, at)
  const live = new Map<string, RecordWriteEvent>()
  for (const e of history) {
    if (e.did !== did || !isRecordOp(e) || e.rev > rev) continue
    const key = `${e.collection}/${e.rkey}`
    if (e.type === 'delete') live.delete(key)
    else live.set(key, e)
  }
  const commit = cidFor(`snapshot:${did}:${rev}`)
  const creates = [...live.values()].map((w): StreamEvent => ({ ...w, type: 'create', seq: -2, commit, rev }))
  const time = new Date(Date.UTC(2027, 0, 1)).toISOString()
  return { rev, events: [...creates, { type: 'repo', seq: -2, time, did, commit, rev }] }
}

/** `history` without `did`'s record ops whose rev is in (`from`, `to`]: commits lost in a gap. */
export const withGap = (history: readonly StreamEvent[], did: string, from: string, to: string): StreamEvent[] =>
  history.filter((e) => !(e.did === did && isRecordOp(e) && e.rev > from && e.rev <= to))

/** Events in rev order (snapshot events after the history's events of their rev), others where they were. */
export function inRevOrder(history: readonly StreamEvent[], snapshots: readonly StreamEvent[][]): StreamEvent[] {
  const out = [...history]
  for (const snap of snapshots) {
    const rev = snap.at(-1)?.type === 'repo' ? (snap.at(-1) as { rev: string }).rev : ''
    let i = out.length
    while (i > 0) {
      const e = out[i - 1]
      if (e && isRecordOp(e) && e.rev <= rev) break
      i--
    }
    out.splice(i, 0, ...snap)
  }
  return out
}

export { revAt }
