/**
 * Which labels of a labeler are accepted: `src` must be the DID configured for that labeler
 * (`INGESTER_LABELER_HOSTS` `<did>@<host>`), `cts` must parse and not lie beyond the allowed clock
 * skew in the future, and `sig` must verify against the DID document's `#atproto_label` key.
 *
 * The key is resolved once (PLC or did:web, through @firehose/atproto's resolver), imported once,
 * and kept for `KEY_TTL_MS`. A signature that does not verify re-resolves the key once (the
 * labeler may have rotated it), at most once per `REFRESH_MIN_INTERVAL_MS`, so that a stream of
 * forged labels cannot turn into a stream of DID lookups. A key that cannot be had at all is
 * `KeyUnavailableError`: the caller retries later rather than refusing labels it cannot judge.
 */
import { importDidKey, verifyLabelSignature, type PublicKey, type SignedLabelItem } from '@firehose/atproto'

export const KEY_TTL_MS = 60 * 60 * 1000
export const REFRESH_MIN_INTERVAL_MS = 60 * 1000

export type LabelRefusal = 'src-mismatch' | 'bad-cts' | 'future-cts' | 'no-signature' | 'bad-signature'

/** The labeler's `#atproto_label` key as a did:key; `fresh` skips any cache. */
export type LabelerKeySource = (did: string, fresh: boolean) => Promise<string>

export class KeyUnavailableError extends Error {
  override name = 'KeyUnavailableError'
}

export interface LabelVerifierOptions {
  /** The labeler's DID: every label's `src` must be it. */
  did: string
  resolveKey: LabelerKeySource
  maxFutureSkewMs: number
  now?: () => number
}

export class LabelVerifier {
  private key: { value: PublicKey; at: number } | undefined
  private lastFresh = -Infinity
  private readonly now: () => number

  constructor(private readonly opts: LabelVerifierOptions) {
    this.now = opts.now ?? Date.now
  }

  /** Why the label is refused, or undefined when it is accepted. Throws `KeyUnavailableError`. */
  async check(item: SignedLabelItem): Promise<LabelRefusal | undefined> {
    const { label, sig, unsigned } = item
    if (label.src !== this.opts.did) return 'src-mismatch'
    const cts = Date.parse(label.cts)
    if (!Number.isFinite(cts)) return 'bad-cts'
    if (cts > this.now() + this.opts.maxFutureSkewMs) return 'future-cts'
    if (sig === undefined) return 'no-signature'
    if (await verifyLabelSignature(await this.currentKey(false), unsigned, sig)) return undefined
    // perhaps a rotated key: look once more, not more often than once a minute
    if (this.now() - this.lastFresh < REFRESH_MIN_INTERVAL_MS) return 'bad-signature'
    return (await verifyLabelSignature(await this.currentKey(true), unsigned, sig)) ? undefined : 'bad-signature'
  }

  private async currentKey(fresh: boolean): Promise<PublicKey> {
    const now = this.now()
    if (!fresh && this.key && now - this.key.at < KEY_TTL_MS) return this.key.value
    if (fresh) this.lastFresh = now
    let value: PublicKey
    try {
      value = await importDidKey(await this.opts.resolveKey(this.opts.did, fresh))
    } catch (err) {
      // keep a key we had (an expired one still judges better than none) when the lookup fails
      if (this.key) return this.key.value
      throw new KeyUnavailableError(`no #atproto_label key for ${this.opts.did}: ${(err as Error).message}`, { cause: err })
    }
    this.key = { value, at: now }
    return value
  }
}
