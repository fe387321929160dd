/** A failure that retrying cannot fix: the entry goes to the dead-letter stream at once. */
export class PermanentError extends Error {
  override name = 'PermanentError'
  readonly permanent = true
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

export const isPermanent = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true
