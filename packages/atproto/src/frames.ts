/**
 * Event-stream frames (`com.atproto.sync.subscribeRepos`, `com.atproto.label.subscribeLabels`):
 * two concatenated DAG-CBOR values, a header `{ op, t }` and a body. `op: 1` is a message of type
 * `t` (e.g. `#commit`), `op: -1` an error `{ error, message? }`.
 */
import { decode as decodeCbor, decodeFirst, encode as encodeCbor } from '@atcute/cbor'
import { FrameDecodeError } from './errors.js'

/** A decoded body: a DAG-CBOR map as @atcute/cbor returns it (CIDs and bytes as wrappers). */
export type FrameBody = Record<string, unknown>

export type Frame = { kind: 'message'; type: string; body: FrameBody } | { kind: 'error'; error: string; message?: string }

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/** Decodes one frame; throws `FrameDecodeError` for anything else. */
export const decodeFrame = (bytes: Uint8Array): Frame => {
  let header: unknown
  let body: unknown
  try {
    const [first, rest] = decodeFirst(bytes)
    header = first
    if (rest.length === 0) throw new FrameDecodeError('frame has a header but no body')
    body = decodeCbor(rest)
  } catch (err) {
    if (err instanceof FrameDecodeError) throw err
    throw new FrameDecodeError(`frame is not two DAG-CBOR values: ${(err as Error).message}`, { cause: err })
  }
  if (!isMap(header)) throw new FrameDecodeError('frame header is not a map')
  if (!isMap(body)) throw new FrameDecodeError('frame body is not a map')
  const { op, t } = header
  if (op === 1) {
    if (typeof t !== 'string' || t.length === 0) throw new FrameDecodeError('message frame without a `t` type')
    return { kind: 'message', type: t, body }
  }
  if (op === -1) {
    const { error, message } = body
    if (typeof error !== 'string') throw new FrameDecodeError('error frame without an `error` string')
    return typeof message === 'string' ? { kind: 'error', error, message } : { kind: 'error', error }
  }
  throw new FrameDecodeError(`unknown frame op ${String(op)}`)
}

/** Encodes a message frame (tests and local peers). `body` may hold wrappers or lex JSON links. */
export const encodeMessageFrame = (type: string, body: Record<string, unknown>): Uint8Array =>
  concat(encodeCbor({ op: 1, t: type }), encodeCbor(body))

/** Encodes an error frame. */
export const encodeErrorFrame = (error: string, message?: string): Uint8Array =>
  concat(encodeCbor({ op: -1 }), encodeCbor(message === undefined ? { error } : { error, message }))

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}
