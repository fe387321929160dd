/**
 * Decides which handle an `identity` event gives an actor. The real one (resolve the DID
 * document, check the handle points back) is wired in by the consumer. A verifier that looks
 * things up on the network has `peek`: the writer then never waits for it; it takes the answer
 * known at once, or stores the event leaving the handle as it is and marks the handle to check
 * (`indexer_actor_state."handleCheckAt"`), which the background checker (handle-checks.ts) does.
 */
export interface HandleVerifier {
  /**
   * The handle to store for `did` (lower-cased), `null` when it does not verify (the actor then
   * has no handle), or `undefined` to leave the stored handle as it is.
   */
  verify(did: string, handle: string | undefined): Promise<string | null | undefined>
  /** The answer known without a lookup (a cached one), or undefined when a lookup is needed. */
  peek?(did: string, handle: string | undefined): { value: string | null } | undefined
}

/** In the writer's map of handles: this identity's handle is checked later, in the background. */
export const HANDLE_PENDING = Symbol('handle pending')
export type HandleAnswer = string | null | undefined | typeof HANDLE_PENDING

/** An identity whose handle the background checker verifies (its event's position, its claim). */
export interface HandleCheck {
  did: string
  /** The event's time as `indexer_actor_state."handleTime"` holds it, and its seq. */
  time: string
  seq: number
  claim: string | undefined
}

/** Trusts the handle an identity event carries; keeps the stored one when it carries none. */
export const trustingHandleVerifier: HandleVerifier = {
  async verify(_did, handle) {
    return handle ? handle.toLowerCase() : undefined
  },
}
