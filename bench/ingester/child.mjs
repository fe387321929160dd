// One ingester process of the bench: `node child.mjs ours|baseline`, configured by the
// environment like dist/main.js; reports its peak RSS when told to stop (IPC).
import { readFileSync } from 'node:fs'
import { loadConfig, startIngester } from '@firehose/ingester'
import { baselineDecode } from './baseline.mjs'

const variant = process.argv[2]
const config = loadConfig(process.env)
let cpuAtStart
const ingester = await startIngester(config, {
  http: false,
  ...(variant === 'baseline' ? { decodeFirehoseFrame: baselineDecode } : {}),
})
process.on('message', async (m) => {
  if (m === 'mark') {
    cpuAtStart = process.cpuUsage()
    return
  }
  if (m !== 'stop') return
  const cpu = process.cpuUsage(cpuAtStart)
  await ingester.close()
  // VmHWM, not resourceUsage().maxRSS: ru_maxrss survives execve, so a forked child would
  // report the parent's RSS (which holds every frame of the bench) as its own peak
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
  process.send({ maxRssMb: Number(hwm?.[1] ?? 0) / 1024, cpuSeconds: (cpu.user + cpu.system) / 1e6 }, () => process.exit(0))
})
if (process.env.BENCH_MEM_TRACE) {
  setInterval(() => {
    const m = process.memoryUsage()
    process.stderr.write(
      `[${variant}] rss ${Math.round(m.rss / 1048576)} heapUsed ${Math.round(m.heapUsed / 1048576)} heapTotal ${Math.round(m.heapTotal / 1048576)} external ${Math.round(m.external / 1048576)} arrayBuffers ${Math.round(m.arrayBuffers / 1048576)}\n`,
    )
  }, 250).unref()
}
process.send('ready')
