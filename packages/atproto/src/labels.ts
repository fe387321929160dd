/** `com.atproto.label.subscribeLabels` messages: `#labels` → labels in JSON form, `#info`. */
import { BytesWrapper, encode as encodeCbor } from '@atcute/cbor'
import { FrameDecodeError } from './errors.js'
import type { Label } from './events.js'
import type { FrameBody } from './frames.js'
import { toLexInPlace } from './lex.js'

export interface LabelsMessage {
  seq: number
  labels: Label[]
}

export type LabelsResult =
  | ({ kind: 'labels' } & LabelsMessage)
  | { kind: 'info'; name: string; message?: string }
  | { kind: 'unknown'; type: string; seq?: number }

/**
 * A `#labels` body → `{ seq, labels }`, each label in JSON form (`sig` as `{ $bytes }`; `ver`,
 * `cid`, `neg`, `exp` and any unknown fields preserved). Reuses the decoded body (in place).
 */
export const labelsMessage = (body: FrameBody): LabelsMessage => {
  const { seq, labels } = body
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) throw new FrameDecodeError('#labels message: `seq` is not an integer')
  if (!Array.isArray(labels)) throw new FrameDecodeError('#labels message: `labels` is not an array')
  const out: Label[] = []
  for (const raw of labels as unknown[]) {
    const label = toLexInPlace(raw) as Record<string, unknown>
    if (label === null || typeof label !== 'object' || Array.isArray(label))
      throw new FrameDecodeError('#labels message: a label is not a map')
    for (const field of ['src', 'uri', 'val', 'cts'] as const) {
      if (typeof label[field] !== 'string') throw new FrameDecodeError(`#labels message: label \`${field}\` is not a string`)
    }
    out.push(label as unknown as Label)
  }
  return { seq, labels: out }
}

/** A label in JSON form, with what its signature covers: the DAG-CBOR of the label without `sig`. */
export interface SignedLabelItem {
  label: Label
  /** DAG-CBOR of the label as received, without `sig` */
  unsigned: Uint8Array
  /** the raw signature bytes; undefined when `sig` is missing or not bytes */
  sig: Uint8Array | undefined
}

/**
 * A `#labels` body → `{ seq, labels }` with each label's signed bytes, computed from the map as
 * received (before the JSON conversion), so that any field, known or not, is covered exactly.
 */
export const signedLabelsMessage = (body: FrameBody): { seq: number; labels: SignedLabelItem[] } => {
  const { seq, labels } = body
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) throw new FrameDecodeError('#labels message: `seq` is not an integer')
  if (!Array.isArray(labels)) throw new FrameDecodeError('#labels message: `labels` is not an array')
  const out: SignedLabelItem[] = []
  for (const raw of labels as unknown[]) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new FrameDecodeError('#labels message: a label is not a map')
    const { sig: rawSig, ...rest } = raw as Record<string, unknown>
    const unsigned = encodeCbor(rest)
    const sig = rawSig instanceof BytesWrapper ? rawSig.buf : undefined
    const label = toLexInPlace(raw) as Record<string, unknown>
    for (const field of ['src', 'uri', 'val', 'cts'] as const) {
      if (typeof label[field] !== 'string') throw new FrameDecodeError(`#labels message: label \`${field}\` is not a string`)
    }
    out.push({ label: label as unknown as Label, unsigned, sig })
  }
  return { seq, labels: out }
}

/** Maps one decoded subscribeLabels message. */
export const labelsMessageToResult = (type: string, body: FrameBody): LabelsResult => {
  if (type === '#labels') return { kind: 'labels', ...labelsMessage(body) }
  if (type === '#info') {
    const { name, message } = body
    if (typeof name !== 'string') throw new FrameDecodeError('#info message: `name` is not a string')
    return typeof message === 'string' ? { kind: 'info', name, message } : { kind: 'info', name }
  }
  const seq = body.seq
  return typeof seq === 'number' ? { kind: 'unknown', type, seq } : { kind: 'unknown', type }
}
