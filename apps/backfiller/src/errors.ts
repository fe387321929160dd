/**
 * What can go wrong with one repo, as classes the control flow follows:
 * - `RepoUnavailableError` (permanent): the PDS says the repo is gone for good
 *   (`RepoNotFound`, `RepoTakendown`, `RepoDeactivated`, `RepoSuspended`): no retry, straight to the DLQ.
 * - `RepoTooLargeError` (permanent): the CAR exceeds BACKFILLER_MAX_REPO_BYTES.
 * - `FetchError` (retry later): a 5xx, another 4xx, a timeout, a reset connection.
 * - `RateLimitedError` (wait, then ask again; never an attempt): an HTTP 429.
 * - `ShutdownError`: the backfiller is closing; the entry stays pending for another instance.
 * CarParseError / VerificationError / IdentityError come from @firehose/atproto and are retried.
 */

/** `error` names of `com.atproto.sync.getRepo` that retrying cannot change. */
export const PERMANENT_REPO_ERRORS = ['RepoNotFound', 'RepoTakendown', 'RepoDeactivated', 'RepoSuspended'] as const
export type PermanentRepoErrorName = (typeof PERMANENT_REPO_ERRORS)[number]

export const isPermanentRepoError = (name: string | undefined): name is PermanentRepoErrorName =>
  (PERMANENT_REPO_ERRORS as readonly (string | undefined)[]).includes(name)

export class RepoUnavailableError extends Error {
  override name = 'RepoUnavailableError'
  readonly permanent = true
  constructor(
    readonly did: string,
    readonly error: PermanentRepoErrorName,
    readonly status: number,
    message: string,
  ) {
    super(`${error} (HTTP ${status}): ${message}`)
  }
}

export class RepoTooLargeError extends Error {
  override name = 'RepoTooLargeError'
  readonly permanent = true
  constructor(
    readonly did: string,
    readonly limitBytes: number,
  ) {
    super(`repo CAR of ${did} exceeds BACKFILLER_MAX_REPO_BYTES (${limitBytes} bytes)`)
  }
}

/**
 * `refused`: the outgoing-request policy refused the address (or a redirect); `rate-limited`:
 * still 429 after BACKFILLER_MAX_RATE_LIMIT_WAITS / _TOTAL_SECS of waiting in one attempt.
 */
export type FetchFailureKind = 'status' | 'timeout' | 'network' | 'refused' | 'rate-limited'

export class FetchError extends Error {
  override name = 'FetchError'
  constructor(
    readonly kind: FetchFailureKind,
    readonly host: string,
    message: string,
    /** HTTP status for kind `status` */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export class RateLimitedError extends Error {
  override name = 'RateLimitedError'
  constructor(
    readonly host: string,
    /** how long the server asked us to wait, or undefined when it did not say */
    readonly retryAfterMs: number | undefined,
  ) {
    super(`rate limited by ${host}${retryAfterMs === undefined ? '' : ` for ${retryAfterMs} ms`}`)
  }
}

export class ShutdownError extends Error {
  override name = 'ShutdownError'
  constructor() {
    super('backfiller is shutting down')
  }
}
