/**
 * Error classes of this package. Each names one failure the caller acts on differently:
 * - `CarParseError`: the bytes are not a well-formed CAR (malformed, truncated). Not retryable
 *   with the same bytes; the backfiller counts it as `backfiller_car_parse_errors_total`.
 * - `VerificationError`: well-formed bytes whose content fails a check (`reason` says which).
 * - `FrameDecodeError`: an event-stream frame that does not decode.
 * - `CommitBlockError`: a `#commit` frame whose record block is missing or does not match its CID.
 * - `IdentityError`: a DID that does not resolve to a PDS and signing key.
 */

export class CarParseError extends Error {
  override name = 'CarParseError'
  constructor(
    message: string,
    /** byte offset in the CAR where parsing failed, when known */
    readonly offset?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export type VerificationReason =
  | 'cid-mismatch'
  | 'missing-block'
  | 'bad-commit'
  | 'did-mismatch'
  | 'bad-signature'
  | 'bad-key'
  | 'bad-mst'
  | 'bad-record'

export class VerificationError extends Error {
  override name = 'VerificationError'
  constructor(
    readonly reason: VerificationReason,
    message: string,
    /** the CID (string) of the block concerned, when there is one */
    readonly cid?: string,
    options?: { cause?: unknown },
  ) {
    super(`${reason}: ${message}`, options)
  }
}

export class FrameDecodeError extends Error {
  override name = 'FrameDecodeError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** A `#commit` message that cannot be mapped; the whole frame should be skipped. */
export class CommitBlockError extends Error {
  override name = 'CommitBlockError'
  constructor(
    readonly reason: 'missing-block' | 'cid-mismatch' | 'bad-record' | 'bad-message' | 'too-many-ops' | 'blocks-too-large',
    readonly seq: number | undefined,
    readonly did: string | undefined,
    readonly path: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${reason} in commit seq=${seq ?? '?'} path=${path ?? '?'}: ${message}`, options)
  }
}

export class IdentityError extends Error {
  override name = 'IdentityError'
  constructor(
    readonly did: string,
    readonly reason: 'not-found' | 'no-pds' | 'no-key' | 'resolve-failed' | 'bad-did',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}
