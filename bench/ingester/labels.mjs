// The label path of the ingester bench: `#labels` frames (one label each, as Ozone sends them)
// from a local labeler (testkit HostileLabeler in honest mode: its DID document served as PLC)
// replayed at full speed to an ingester child process, every label's src, cts and signature
// checked before it is written to a scratch stream. Also: decoding alone vs decoding + signature
// verification in-process, to show what verification costs per label.
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'

const fmt = (n) => Math.round(n).toLocaleString('en-US')

/** Decode (and optionally verify) every frame in-process: labels/s. */
async function decodeOnly(frames, verify) {
  const { decodeFrame, labelsMessage, signedLabelsMessage, importDidKey, verifyLabelSignature } = await import('@firehose/atproto')
  const key = verify ? await importDidKey(verify) : undefined
  let labels = 0
  let bad = 0
  const t0 = performance.now()
  for (const f of frames) {
    const frame = decodeFrame(f)
    if (key) {
      for (const item of signedLabelsMessage(frame.body).labels) {
        labels++
        if (!(await verifyLabelSignature(key, item.unsigned, item.sig))) bad++
      }
    } else labels += labelsMessage(frame.body).labels.length
  }
  if (bad > 0) throw new Error(`${bad} labels did not verify`)
  return labels / ((performance.now() - t0) / 1000)
}

export async function labelsBench({ redis, n, childArgs }) {
  const { HostileLabeler } = await import('@firehose/testkit')
  const labeler = await HostileLabeler.start('did:plc:benchlabelerxxxxxxxxxxxxx')
  // 1,000 distinct signed labels, cycled: each frame's label is verified again by the ingester
  const pool = []
  for (let i = 0; i < 1000; i++)
    pool.push(
      await labeler.sign({
        uri: `at://did:plc:benchsubject${String(i).padStart(12, '0')}/app.bsky.feed.post/3kaaaaaaaaaaa`,
        val: ['spam', 'porn', '!hide'][i % 3],
      }),
    )
  for (let i = 0; i < n; i++) labeler.sendLabels([pool[i % pool.length]])
  const frames = labeler.frames.map((f) => f.bytes)
  const decodeLabelsPerSec = await decodeOnly(frames)
  const verifyLabelsPerSec = await decodeOnly(frames, labeler.keypair.did())

  const stream = `bench_label_${randomBytes(4).toString('hex')}`
  const child = fork(fileURLToPath(new URL('./child.mjs', import.meta.url)), ['ours'], {
    env: {
      PATH: process.env.PATH,
      REDIS_URL: process.env.REDIS_URL,
      LOG_LEVEL: 'warn',
      INGESTER_LABELER_HOSTS: `${labeler.did}@${labeler.url}`,
      PLC_URL: labeler.plcUrl,
      // the labeler's PLC listens on loopback: exactly that, nothing wider (the peer policy)
      ALLOW_PRIVATE_NETWORKS: '127.0.0.1/32',
      INGESTER_LABEL_STREAM: stream,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: childArgs,
  })
  await new Promise((resolve) => child.once('message', resolve))
  child.send('mark')
  const t0 = performance.now()
  const deadline = Date.now() + 300_000
  let len = 0
  while ((len = await redis.xlen(stream)) < n) {
    if (Date.now() > deadline) throw new Error(`labels: only ${len} of ${n} after 300 s`)
    await new Promise((r) => setTimeout(r, 10))
  }
  const seconds = (performance.now() - t0) / 1000
  const report = new Promise((resolve) => child.on('message', (m) => typeof m === 'object' && resolve(m)))
  child.send('stop')
  const { maxRssMb, cpuSeconds } = await report
  const host = labeler.host
  await labeler.close()
  await redis.del(stream, `${stream}:cursor:${host}`)
  return {
    labels: n,
    decodeLabelsPerSec,
    verifyLabelsPerSec,
    labelsPerSec: n / seconds,
    labelsPerCpuSec: n / cpuSeconds,
    peakRssMb: Math.round(maxRssMb),
    fmt,
  }
}
