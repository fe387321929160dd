import { eventTime } from '../actors.js'

/** The latest event of each DID (by time, then seq). */
export const latestBy = <E extends { did: string; seq: number; time: string }>(events: E[]): Map<string, E> => {
  const out = new Map<string, E>()
  for (const e of events) {
    const cur = out.get(e.did)
    const [et, ct] = [eventTime(e.time), cur ? eventTime(cur.time) : '']
    if (!cur || et > ct || (et === ct && e.seq >= cur.seq)) out.set(e.did, e)
  }
  return out
}
