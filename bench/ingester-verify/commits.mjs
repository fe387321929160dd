// Real signed sync-1.1 `#commit` frames, made as a PDS makes them (@atproto/pds's transactor and
// sequencer over @atproto/repo): each repo has its own key (P-256 or secp256k1, alternately) and
// a realistic size; each commit is `Repo.formatCommit` of a firehose-like op mix, its frame
// carrying the new blocks + the covering proofs, ops with `prev`, and `prevData`.
import { P256Keypair, Secp256k1Keypair } from '@atproto/crypto'
import { BlockMap, blocksToCarFile, MemoryBlockstore, readCarWithRoot, Repo, WriteOpAction } from '@atproto/repo'
import { buildSignedRepo, generateRecords, tidFromMicros } from '@firehose/atproto/testing'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'

const concat = (a, b) => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}
export const encodeFrame = (type, body) => concat(dagCbor.encode({ op: 1, t: type }), dagCbor.encode(body))

/** lex JSON → IPLD (CIDs as multiformats CIDs) for @atproto/repo. */
const toIpld = (v) => {
  if (Array.isArray(v)) return v.map(toIpld)
  if (v !== null && typeof v === 'object') {
    if (typeof v.$link === 'string' && Object.keys(v).length === 1) return CID.parse(v.$link)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toIpld(x)]))
  }
  return v
}

// a deterministic PRNG
let seed = 0x2545f491
const rand = (n) => {
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) % n
}

const now = () => new Date().toISOString()
/** the repos' key curves, in turn (BENCH_CURVES, e.g. `secp256k1` alone: what bsky.social's PDSes use) */
const CURVES = (process.env.BENCH_CURVES ?? 'p256,secp256k1').split(',')
const subject = (i) => ({
  uri: `at://did:plc:${String(i).padStart(24, 'a').slice(0, 24)}/app.bsky.feed.post/${tidFromMicros(Date.UTC(2025, 0, 1) * 1000 + i, 3)}`,
  cid: 'bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a',
})

/** One write of the mix: likes, posts, follows, reposts, deletes of earlier records, profile updates. */
function pickWrite(state, micros) {
  const r = rand(100)
  const rkey = tidFromMicros(micros, rand(1024))
  if (r < 45)
    return {
      action: 'create',
      collection: 'app.bsky.feed.like',
      rkey,
      record: { $type: 'app.bsky.feed.like', subject: subject(rand(1e6)), createdAt: now() },
    }
  if (r < 63)
    return {
      action: 'create',
      collection: 'app.bsky.feed.post',
      rkey,
      record: {
        $type: 'app.bsky.feed.post',
        text: `post ${rand(1e9)} with some words in it, like a real one 🦋`,
        langs: ['en'],
        createdAt: now(),
      },
    }
  if (r < 75)
    return {
      action: 'create',
      collection: 'app.bsky.graph.follow',
      rkey,
      record: { $type: 'app.bsky.graph.follow', subject: `did:plc:${String(rand(1e9)).padStart(24, 'b')}`, createdAt: now() },
    }
  if (r < 85)
    return {
      action: 'create',
      collection: 'app.bsky.feed.repost',
      rkey,
      record: { $type: 'app.bsky.feed.repost', subject: subject(rand(1e6)), createdAt: now() },
    }
  if (r < 97) {
    const paths = [...state.records.keys()].filter((p) => !p.startsWith('app.bsky.actor.profile'))
    const path = paths[rand(paths.length)]
    const [collection, key] = path.split('/')
    return { action: 'delete', collection, rkey: key }
  }
  return {
    action: 'update',
    collection: 'app.bsky.actor.profile',
    rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', displayName: `name ${rand(1e6)}`, description: 'updated' },
  }
}

/** A repo of `size` records in @atproto/repo storage (built with our fast builder, loaded by @atproto/repo). */
async function makeRepo(index, size) {
  const did = `did:plc:bench${String(index).padStart(19, '0')}`
  const built = await buildSignedRepo({ did, records: generateRecords(size, did) })
  const { root, blocks } = await readCarWithRoot(built.car)
  const storage = new MemoryBlockstore(blocks)
  const repo = await Repo.load(storage, root)
  const curve = CURVES[index % CURVES.length]
  const keypair = curve === 'p256' ? await P256Keypair.create() : await Secp256k1Keypair.create()
  const records = new Map(built.records.map((r) => [`${r.collection}/${r.rkey}`, CID.parse(r.cid)]))
  return { did, keypair, didKey: keypair.did(), repo, records, seq: 0 }
}

async function nextCommit(state, micros) {
  const n = rand(100) < 92 ? 1 : 2 + rand(4)
  const writes = []
  const paths = new Set()
  for (let i = 0; i < n; i++) {
    const w = pickWrite(state, micros + i)
    const path = `${w.collection}/${w.rkey}`
    if (paths.has(path)) continue
    paths.add(path)
    writes.push(w)
  }
  const prevData = state.repo.commit.data
  const lastRev = state.repo.commit.rev
  const ops = writes.map((w) =>
    w.action === 'delete'
      ? { action: WriteOpAction.Delete, collection: w.collection, rkey: w.rkey }
      : {
          action: w.action === 'create' ? WriteOpAction.Create : WriteOpAction.Update,
          collection: w.collection,
          rkey: w.rkey,
          record: toIpld(w.record),
        },
  )
  const commit = await state.repo.formatCommit(ops, state.keypair)
  state.repo = await state.repo.applyCommit(commit)
  const frameOps = []
  for (const w of writes) {
    const path = `${w.collection}/${w.rkey}`
    const prev = state.records.get(path)
    const cid = w.action === 'delete' ? null : await state.repo.data.get(path)
    frameOps.push({ action: w.action, path, cid, ...(prev ? { prev } : {}) })
    if (cid) state.records.set(path, cid)
    else state.records.delete(path)
  }
  const blocks = new BlockMap()
  blocks.addMap(commit.newBlocks)
  blocks.addMap(commit.relevantBlocks)
  const frame = encodeFrame('#commit', {
    seq: ++state.seq,
    repo: state.did,
    commit: commit.cid,
    rev: commit.rev,
    since: commit.since,
    blocks: await blocksToCarFile(commit.cid, blocks),
    ops: frameOps,
    prevData,
    rebase: false,
    tooBig: false,
    blobs: [],
    time: now(),
  })
  return { frame, meta: { didKey: state.didKey, lastRev, lastData: Buffer.from(prevData.bytes).toString('base64'), ops: frameOps.length } }
}

/** `repos` repos of `size` records, `perRepo` commits each, interleaved as on the firehose. */
export async function generateCommits({ repos, size, perRepo }) {
  const states = []
  for (let i = 0; i < repos; i++) states.push(await makeRepo(i, size))
  const frames = []
  const metas = []
  let micros = Date.now() * 1000
  for (let c = 0; c < perRepo; c++) {
    for (const state of states) {
      micros += 10
      const { frame, meta } = await nextCommit(state, micros)
      frames.push(frame)
      metas.push(meta)
    }
  }
  return { frames, metas }
}
