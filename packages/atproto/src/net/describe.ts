/**
 * A failed request to a peer, described for logs and dead-letter text with our own words only:
 * the policy's refusal class, our own limits, or "no answer". Whether a connection was refused,
 * reset or timed out is not told apart (that would make a port scanner of anything that shows
 * these messages), and nothing the peer sent is included.
 */
import { BodyTooLargeError } from './body.js'
import { TooManyRedirectsError } from './peer-fetch.js'
import { PeerAddressRefusedError } from './policy.js'

export type PeerFailureClass = 'refused-address' | 'body-too-large' | 'redirects' | 'no-answer'

/** Walks the `cause` chain (fetch wraps its errors in `TypeError: fetch failed`). */
export function peerFailure(err: unknown): { kind: PeerFailureClass; message: string } {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof PeerAddressRefusedError) return { kind: 'refused-address', message: e.message }
    if (e instanceof BodyTooLargeError) return { kind: 'body-too-large', message: e.message }
    if (e instanceof TooManyRedirectsError) return { kind: 'redirects', message: e.message }
    if (e instanceof TypeError && e.message === 'redirect refused') return { kind: 'redirects', message: 'redirect refused' }
  }
  return { kind: 'no-answer', message: 'no usable answer' }
}
