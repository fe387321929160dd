/** Bad arguments: printed with a usage hint, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError'
  constructor(
    message: string,
    /** The command whose usage to show (`dlq replay`), when known. */
    readonly command?: string,
  ) {
    super(message)
  }
}

/** Something went wrong at run time (Redis unreachable, HTTP error, refused action): exit code 1. */
export class OpsError extends Error {
  override name = 'OpsError'
}

export const EXIT_OK = 0
export const EXIT_RUNTIME = 1
export const EXIT_USAGE = 2
