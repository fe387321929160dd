/**
 * Turns a failed attempt into metrics and the worker's control flow: permanent failures go to
 * the DLQ at once, the rest are retried by the worker with backoff up to BACKFILLER_MAX_RETRIES.
 */
import { CarParseError, IdentityError, OutputBudgetError, VerificationError } from '@firehose/atproto'
import { EventDecodeError, PermanentError } from '@firehose/streams'
import { FetchError, RepoTooLargeError, RepoUnavailableError } from './errors.js'
import type { BackfillerMetrics, FailureReason } from './metrics.js'
import { SnapshotBehindError } from './sync-state.js'

/** Count the failure and return the error the worker should see (permanent where retrying cannot help). */
export function classifyFailure(err: unknown, m: BackfillerMetrics): Error {
  const reason = reasonOf(err)
  m.reposFailed.inc({ reason })
  if (err instanceof CarParseError) m.carParseErrors.inc()
  else if (err instanceof VerificationError) m.verificationErrors.inc({ reason: err.reason })
  else if (err instanceof FetchError) m.carFetchErrors.inc({ kind: fetchKind(err) })
  else if (err instanceof OutputBudgetError) m.outputBudgetExceeded.inc({ budget: err.budget })

  const e = err instanceof Error ? err : new Error(String(err))
  const message = `${e.name}: ${e.message}`
  if (err instanceof RepoUnavailableError || err instanceof RepoTooLargeError || err instanceof OutputBudgetError)
    return withMessage(err, message)
  if (err instanceof EventDecodeError) return new PermanentError(`bad repo_backfill entry: ${message}`, { cause: err })
  if (err instanceof IdentityError && err.reason === 'bad-did') return new PermanentError(message, { cause: err })
  return new Error(message, { cause: err })
}

function reasonOf(err: unknown): FailureReason {
  if (err instanceof CarParseError) return 'car_parse'
  if (err instanceof VerificationError) return 'verification'
  if (err instanceof FetchError) return 'fetch'
  if (err instanceof IdentityError) return 'identity'
  if (err instanceof RepoUnavailableError) return 'unavailable'
  if (err instanceof RepoTooLargeError || err instanceof OutputBudgetError) return 'too_large'
  if (err instanceof SnapshotBehindError) return 'snapshot_behind'
  return 'other'
}

function fetchKind(err: FetchError): string {
  if (err.kind === 'rate-limited') return 'rate_limited'
  if (err.kind !== 'status' || err.status === undefined) return err.kind
  return err.status >= 500 ? 'status_5xx' : 'status_4xx'
}

/** The DLQ's `error` field is the message: prefix it with the class name, keep `permanent`. */
function withMessage<E extends Error>(err: E, message: string): E {
  err.message = message
  return err
}
