import { applyHandle, eventTime, newerActorEvents } from '../actors.js'
import { markHandleChecks } from '../handle-state.js'
import { HANDLE_PENDING } from '../handles.js'
import { latestBy } from './latest-by.js'
import type { BatchState } from './state.js'

/**
 * Handles: the last identity event of each DID, if newer than the one applied, sets its handle
 * (or leaves it to a check after the commit: `handleChecks`); older ones are stale.
 */
export async function applyIdentityEvents(b: BatchState): Promise<void> {
  const { trx, handles } = b
  const lastIdentity = await newerActorEvents(trx, 'handle', [
    ...latestBy(b.identities.map((i) => ({ ...i.event, index: i.index }))).values(),
  ])
  const appliedIdentity = new Set(lastIdentity.map((e) => e.index))
  for (const i of b.identities) if (!appliedIdentity.has(i.index)) b.outcomes.set(i.index, { status: 'stale' })
  for (const e of lastIdentity) {
    const answer = handles.get(e.index)
    await applyHandle(trx, e.did, answer === HANDLE_PENDING ? undefined : answer, e.time)
    if (answer === HANDLE_PENDING) b.handleChecks.push({ did: e.did, time: eventTime(e.time), seq: Math.trunc(e.seq), claim: e.handle })
  }
  await markHandleChecks(
    trx,
    lastIdentity.map((e) => ({ did: e.did, pending: handles.get(e.index) === HANDLE_PENDING, claim: e.handle })),
  )
}
