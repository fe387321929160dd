// Bench frames: real subscribeRepos frames recorded from a dev-env PDS (accounts writing
// profiles, posts, replies, likes, follows, reposts, deletes, a handle change), mixed with
// generated #commit frames, renumbered 1..N.
import WebSocket from 'ws'
import { decodeFrame, encodeMessageFrame } from '@firehose/atproto'
import { createAccount, startNetwork } from '@firehose/testkit'

// `@firehose/atproto` does not export its testing helpers: use the built file
const testing = await import(new URL('../../packages/atproto/dist/testing.js', import.meta.url).href)

export async function recordPdsFrames({ accounts = 8, postsEach = 12 } = {}) {
  const net = await startNetwork()
  try {
    const { seed, pdsUrl } = net
    const dids = []
    for (let i = 0; i < accounts; i++) dids.push((await createAccount(seed, `bench${process.pid}x${i}`)).did)
    const h = (did) => seed.getHeaders(did)
    const posts = []
    for (const did of dids) {
      await seed.agent.com.atproto.repo.putRecord(
        {
          repo: did,
          collection: 'app.bsky.actor.profile',
          rkey: 'self',
          record: { $type: 'app.bsky.actor.profile', displayName: `Bench ${did.slice(-4)}`, description: 'a bench account '.repeat(5) },
        },
        { encoding: 'application/json', headers: h(did) },
      )
      for (let i = 0; i < postsEach; i++) {
        const text = `post ${i} from ${did.slice(-6)}: ${'lorem ipsum dolor sit amet '.repeat(1 + (i % 6))}`
        posts.push((await seed.post(did, text, undefined, undefined, undefined, { langs: ['en'] })).ref)
      }
    }
    for (const [i, did] of dids.entries()) {
      for (let k = 0; k < 8; k++) await seed.like(did, posts[(i * 7 + k * 3) % posts.length])
      for (const other of dids) if (other !== did) await seed.follow(did, other)
      for (let k = 0; k < 3; k++) await seed.repost(did, posts[(i * 5 + k) % posts.length])
      const parent = posts[(i * 11) % posts.length]
      for (let k = 0; k < 3; k++) await seed.reply(did, parent, parent, `reply ${k} to a post`)
    }
    for (const did of dids.slice(0, 3)) {
      const own = posts.filter((p) => p.uri.host === did).slice(0, 2)
      for (const p of own) await seed.deletePost(did, p.uri)
      await seed.agent.com.atproto.repo.putRecord(
        {
          repo: did,
          collection: 'app.bsky.actor.profile',
          rkey: 'self',
          record: { $type: 'app.bsky.actor.profile', displayName: 'Renamed' },
        },
        { encoding: 'application/json', headers: h(did) },
      )
    }
    await seed.updateHandle(dids[0], `bren${process.pid % 100000}.test`)
    const last = await net.net.pds.ctx.sequencer.curr()
    // replay the PDS's whole sequence over a real subscribeRepos socket
    const frames = []
    await new Promise((resolve, reject) => {
      const ws = new WebSocket(`${pdsUrl.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`)
      ws.on('message', (data) => {
        const bytes = new Uint8Array(data)
        frames.push(bytes)
        const f = decodeFrame(bytes)
        if (f.kind === 'message' && f.body.seq >= last) {
          ws.close()
          resolve()
        }
      })
      ws.on('error', reject)
    })
    return frames
  } finally {
    await net.close()
  }
}

/** `count` generated #commit frames of 1–3 ops (creates of realistic records, some deletes). */
export async function generateFrames(count) {
  const records = testing.generateRecords(count * 2 + 1, 'did:plc:benchgenerated00000000000')
  const out = []
  for (let i = 0; i < count; i++) {
    const did = `did:plc:benchgen${String(i % 50).padStart(17, '0')}`
    const nOps = 1 + (i % 3)
    const ops = []
    for (let k = 0; k < nOps; k++) {
      const r = records[(i * 2 + k) % records.length]
      ops.push(k === 2 && i % 6 === 5 ? { action: 'delete', collection: r.collection, rkey: r.rkey } : { action: 'create', ...r })
    }
    out.push(await testing.buildCommitFrame({ seq: i + 1, did, ops }))
  }
  return out
}

/** The frames of `pool`, cycled and renumbered seq 1..n (re-encoded). */
export function renumber(pool, n) {
  const decoded = pool.map((b) => decodeFrame(b)).filter((f) => f.kind === 'message')
  const out = new Array(n)
  for (let i = 0; i < n; i++) {
    const f = decoded[i % decoded.length]
    out[i] = encodeMessageFrame(f.type, { ...f.body, seq: i + 1 })
  }
  return out
}
