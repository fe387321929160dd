/**
 * Merkle Search Tree: key heights, and a verifying walk over a repo's tree.
 *
 * The walk checks that the tree is the canonical one for its keys: every node block is present,
 * decodes as a node, keys are valid repo paths in strictly increasing order across the in-order
 * traversal (which also places every subtree inside its key range), prefix compression is exact,
 * every entry of a node sits on the node's layer (the sha256 leading-zero rule), and subtrees sit
 * exactly one layer below. It returns the leaves (path, record CID) in key order.
 */
import type { BlockMap } from './car.js'
import { cidBytesToString } from './cid.js'
import { VerificationError } from './errors.js'
import { leafCid, leafPath, type MstLeaves, type RepoLeaves } from './mst/leaves.js'
import { badMst, Walk } from './mst/walk.js'

export { commonPrefixLength, keyHeight } from './mst/key.js'
export { leafCid, leafPath, type MstLeaves, type RepoLeaves } from './mst/leaves.js'

/**
 * Walks and verifies the tree under `root`. Also requires every leaf's record block to be present
 * (`missing-block`) and its CID to be dag-cbor (`bad-record`). Throws `VerificationError`.
 */
export const walkMst = (blocks: BlockMap, root: Uint8Array): MstLeaves => {
  const leaves = walkMstLeaves(blocks, root)
  const out: MstLeaves = { paths: [], cids: [], blocks: [] }
  for (let i = 0; i < leaves.count; i++) {
    out.paths.push(leafPath(leaves, i))
    out.cids.push(leafCid(leaves, i))
    out.blocks.push(blocks.bytesOf(leaves.blockIds[i]!))
  }
  return out
}

/** `walkMst`, with the leaves as offsets (`RepoLeaves`): what repo verification uses. */
export const walkMstLeaves = (blocks: BlockMap, root: Uint8Array): RepoLeaves => {
  const w = new Walk(blocks)
  const rootId = blocks.findAt(root, 0, root.length)
  if (rootId < 0) throw new VerificationError('missing-block', 'MST root node not in CAR', cidBytesToString(root))
  const node = w.parse(rootId, root, 0)
  if (node.count === 0) {
    if (node.l >= 0) throw badMst('root node has no entries (tree not trimmed)', root)
  } else {
    w.walk(root, 0, node, -1)
  }
  return w.leaves()
}
