/**
 * Bounded response bodies: a peer's body is read with a byte limit (a declared length over the
 * limit is refused before reading), and the request's deadline covers the whole body, so a slow
 * body costs at most that long.
 */

export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError'
  constructor(readonly limitBytes: number) {
    super(`response body exceeds ${limitBytes} bytes`)
  }
}

interface BodyLike {
  headers: { get(name: string): string | null }
  body: ReadableStream<Uint8Array> | null
}

/** The whole body, at most `maxBytes` (else BodyTooLargeError, the rest not read). */
export async function readLimitedBody(res: BodyLike, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined)
    throw new BodyTooLargeError(maxBytes)
  }
  const reader = res.body?.getReader()
  if (!reader) return new Uint8Array(0)
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined)
      throw new BodyTooLargeError(maxBytes)
    }
    chunks.push(value)
  }
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks, total)
}

/** The body as a stream that errors (BodyTooLargeError) once more than `maxBytes` have passed. */
export function limitBodyStream(body: ReadableStream<Uint8Array>, maxBytes: number): ReadableStream<Uint8Array> {
  let total = 0
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        total += chunk.byteLength
        if (total > maxBytes) controller.error(new BodyTooLargeError(maxBytes))
        else controller.enqueue(chunk)
      },
    }),
  )
}
