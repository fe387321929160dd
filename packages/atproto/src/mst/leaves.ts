import type { BlockMap } from '../car.js'

/**
 * Leaves of a tree in key order: `paths[i]` → record CID `cids[i]` (binary, a view into the CAR)
 * whose block is `blocks[i]`.
 */
export interface MstLeaves {
  paths: string[]
  cids: Uint8Array[]
  blocks: Uint8Array[]
}

/**
 * Leaves of a tree in key order, without an object per leaf: leaf `i`'s path is the bytes
 * `keys[keyStart(i), keyEnds[i])` (ASCII, a valid repo path), its record CID the 36 bytes at
 * `cidBufs[i][cidStarts[i]]`, and its record block entry `blockIds[i]` of `blocks`.
 */
export interface RepoLeaves {
  count: number
  keys: Uint8Array
  keyEnds: Uint32Array
  cidBufs: Uint8Array[]
  cidStarts: Int32Array
  blocks: BlockMap
  blockIds: Int32Array
}

export const leafPath = (leaves: RepoLeaves, i: number): string =>
  Buffer.from(leaves.keys.buffer, leaves.keys.byteOffset, leaves.keys.byteLength).toString(
    'latin1',
    i === 0 ? 0 : leaves.keyEnds[i - 1]!,
    leaves.keyEnds[i]!,
  )

export const leafCid = (leaves: RepoLeaves, i: number): Uint8Array =>
  leaves.cidBufs[i]!.subarray(leaves.cidStarts[i]!, leaves.cidStarts[i]! + 36)
