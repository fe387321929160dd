// verifyRepoCar vs @atproto/repo on an N-record repo built by @atproto/repo, baseline in the same run.
// Usage: pnpm --filter @firehose/atproto build && node packages/atproto/bench/verify-repo.mjs [records] [rounds]
import { Secp256k1Keypair } from '@atproto/crypto'
import { getFullRepo, MemoryBlockstore, readCarWithRoot, Repo, verifyRepo, WriteOpAction } from '@atproto/repo'
import * as dagCbor from '@ipld/dag-cbor'
import { generateRecords } from '../dist/testing.js'
import { verifyRepoCar } from '../dist/index.js'
import { CID } from 'multiformats/cid'

const N = Number(process.argv[2] ?? 10_000)
const ROUNDS = Number(process.argv[3] ?? 5)
const did = 'did:plc:benchrepo'
const toIpld = (v) => {
  if (Array.isArray(v)) return v.map(toIpld)
  if (v && typeof v === 'object') {
    if (typeof v.$link === 'string') return CID.parse(v.$link)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toIpld(x)]))
  }
  return v
}
const keypair = await Secp256k1Keypair.create()
const storage = new MemoryBlockstore()
const writes = generateRecords(N, did).map((r) => ({
  action: WriteOpAction.Create,
  collection: r.collection,
  rkey: r.rkey,
  record: toIpld(r.record),
}))
const t = performance.now()
const repo = await Repo.create(storage, did, keypair, writes)
const chunks = []
for await (const c of getFullRepo(storage, repo.cid)) chunks.push(c)
const car = new Uint8Array(Buffer.concat(chunks))
console.log(`built ${N} records, CAR ${(car.length / 1e6).toFixed(2)} MB in ${(performance.now() - t).toFixed(0)} ms`)

const ours = async () => {
  const v = await verifyRepoCar(car, { did, signingKey: keypair.did() })
  let n = 0
  for (const r of v.records) if (r.record) n++
  return n
}
// @atproto/repo: verify (CIDs, signature, diff → creates), then decode each record
const theirs = async () => {
  const { root, blocks } = await readCarWithRoot(car)
  const v = await verifyRepo(blocks, root, did, keypair.did())
  let n = 0
  for (const c of v.creates) if (dagCbor.decode(blocks.get(c.cid))) n++
  return n
}
const run = async (name, fn) => {
  await fn() // warm-up
  const times = []
  const cpus = []
  for (let i = 0; i < ROUNDS; i++) {
    const s = performance.now()
    const c = process.cpuUsage()
    const n = await fn()
    const used = process.cpuUsage(c)
    times.push(performance.now() - s)
    cpus.push((used.user + used.system) / 1000)
    if (n !== N) throw new Error(`${name}: ${n} records, expected ${N}`)
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const med = median(times)
  // CPU time (process, incl. GC threads) is steadier than wall time on a shared machine
  console.log(
    `${name.padEnd(16)} wall median ${med.toFixed(1)} ms (${((N / med) * 1000).toFixed(0)} records/s), min ${Math.min(...times).toFixed(1)} ms; cpu median ${median(cpus).toFixed(1)} ms`,
  )
  return Math.min(...times)
}
const a = await run('ours', ours)
const b = await run('@atproto/repo', theirs)
console.log(`speed-up (min wall) ×${(b / a).toFixed(1)}`)
const mem = process.memoryUsage()
console.log(`rss ${(mem.rss / 1e6).toFixed(0)} MB heapUsed ${(mem.heapUsed / 1e6).toFixed(0)} MB`)
