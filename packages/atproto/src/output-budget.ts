/**
 * Budgets on what a repo CAR may make us produce. The record JSON of a repo is not bounded by its
 * CAR: many tree leaves may point at one large record block, so a CAR of a few MB can ask for
 * tens of GB of JSON. Checked while the JSON is built, before anything is emitted.
 */

export type OutputBudgetKind = 'json_bytes' | 'records' | 'repeated_records'

export interface OutputBudget {
  /** bytes of record JSON allowed in all */
  maxJsonBytes: number
  /** records allowed (a bound from the CAR's size: every leaf costs bytes in a tree node) */
  maxRecords: number
  /** leaves allowed to point at a record block already used by another leaf */
  maxRepeatedRecords: number
}

/** The repo would produce more than its budget. `permanent`: the same CAR fails the same way. */
export class OutputBudgetError extends Error {
  override name = 'OutputBudgetError'
  readonly permanent = true
  constructor(
    readonly budget: OutputBudgetKind,
    message: string,
  ) {
    super(`too-large: ${message}`)
  }
}

/** The smallest a tree leaf can be in a CAR (a key byte and a 36-byte CID, with CBOR framing). */
export const MIN_LEAF_BYTES = 40

/** A budget from the CAR's size: `jsonPerCarByte` times the CAR (at least `minJsonBytes`). */
export function outputBudgetFor(
  carBytes: number,
  o: { jsonPerCarByte: number; minJsonBytes: number; maxRepeatedRecords: number },
): OutputBudget {
  return {
    maxJsonBytes: Math.max(o.minJsonBytes, carBytes * o.jsonPerCarByte),
    maxRecords: Math.ceil(carBytes / MIN_LEAF_BYTES) + 16,
    maxRepeatedRecords: o.maxRepeatedRecords,
  }
}
