/**
 * Alterations of real `#commit` frames for the hostile relay (`RelayProxy`): each returns a frame
 * that a sync 1.1 verifier must refuse, keeping everything else of the frame as the PDS sent it.
 */
import { cidForDagCbor, decodeCommit, decodeFrame, encodeCar, encodeMessageFrame, readCar, type FrameBody } from '@firehose/atproto'

export type Alteration = 'bad-signature' | 'wrong-prev-data' | 'record-mismatch'

interface CidLinkLike {
  bytes: Uint8Array
}
interface BytesLike {
  buf: Uint8Array
}

/** The commit frame's body and blocks, or undefined when it is not a #commit with ops. */
export function commitOf(frame: Uint8Array): { body: FrameBody; ops: { action: string; cid?: CidLinkLike | null }[] } | undefined {
  const f = decodeFrame(frame)
  if (f.kind !== 'message' || f.type !== '#commit') return undefined
  const ops = f.body.ops as { action: string; cid?: CidLinkLike | null }[] | undefined
  if (!Array.isArray(ops) || ops.length === 0) return undefined
  return { body: f.body, ops }
}

const blocksOf = (body: FrameBody): { root: Uint8Array; entries: { cid: Uint8Array; bytes: Uint8Array }[] } => {
  const car = readCar((body.blocks as BytesLike).buf, { verifyBlocks: false })
  const entries: { cid: Uint8Array; bytes: Uint8Array }[] = []
  for (let i = 0; i < car.blocks.size; i++) entries.push({ cid: car.blocks.cidOf(i), bytes: car.blocks.bytesOf(i) })
  return { root: car.roots[0]!, entries }
}

const withBlocks = (body: FrameBody, roots: Uint8Array[], entries: { cid: Uint8Array; bytes: Uint8Array }[]): FrameBody => {
  const Bytes = (body.blocks as object).constructor as new (b: Uint8Array) => BytesLike
  return { ...body, blocks: new Bytes(encodeCar(roots, entries)) }
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b))

export function alter(frame: Uint8Array, how: Alteration): Uint8Array {
  const c = commitOf(frame)
  if (!c) throw new Error('not a #commit frame')
  const { body } = c
  const Link = (body.commit as object).constructor as new (b: Uint8Array) => CidLinkLike
  switch (how) {
    case 'bad-signature': {
      // one byte of the signature flipped; the commit block gets its new CID everywhere
      const { root, entries } = blocksOf(body)
      const old = entries.find((e) => sameBytes(e.cid, root))!
      const sig = decodeCommit(old.cid, old.bytes).sig
      const bytes = Buffer.from(old.bytes)
      const at = bytes.indexOf(Buffer.from(sig))
      bytes[at + 40] = bytes[at + 40]! ^ 0x01
      const cid = cidForDagCbor(bytes)
      const altered = entries.map((e) => (e === old ? { cid, bytes } : e))
      return encodeMessageFrame('#commit', { ...withBlocks(body, [cid], altered), commit: new Link(cid) })
    }
    case 'wrong-prev-data':
      // the commit's own CID as prevData: not the tree before the ops
      return encodeMessageFrame('#commit', { ...body, prevData: new Link((body.commit as CidLinkLike).bytes) })
    case 'record-mismatch': {
      // a record block's bytes changed, its CID kept
      const target = c.ops.find((o) => o.cid)?.cid
      if (!target) throw new Error('no record in this commit')
      const { root, entries } = blocksOf(body)
      const altered = entries.map((e) => {
        if (!sameBytes(e.cid, target.bytes)) return e
        const bytes = Buffer.from(e.bytes)
        bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01
        return { cid: e.cid, bytes }
      })
      return encodeMessageFrame('#commit', withBlocks(body, [root], altered))
    }
  }
}
