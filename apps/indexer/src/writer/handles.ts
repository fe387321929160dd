/**
 * Decides which handle an `identity` event gives an actor. The real one (resolve the DID
 * document, check the handle points back) is wired in by the consumer; the writer only calls it
 * before opening its transaction.
 */
export interface HandleVerifier {
  /**
   * The handle to store for `did` (lower-cased), `null` when it does not verify (the actor then
   * has no handle), or `undefined` to leave the stored handle as it is.
   */
  verify(did: string, handle: string | undefined): Promise<string | null | undefined>
}

/** Trusts the handle an identity event carries; keeps the stored one when it carries none. */
export const trustingHandleVerifier: HandleVerifier = {
  async verify(_did, handle) {
    return handle ? handle.toLowerCase() : undefined
  },
}
