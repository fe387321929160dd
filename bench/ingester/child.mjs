// One ingester process of the bench: `node child.mjs ours|baseline`, configured by the
// environment like dist/main.js; reports its peak RSS when told to stop (IPC).
import { loadConfig, startIngester } from '@firehose/ingester'
import { baselineDecode } from './baseline.mjs'

const variant = process.argv[2]
const config = loadConfig(process.env)
const ingester = await startIngester(config, {
  http: false,
  ...(variant === 'baseline' ? { decodeFirehoseFrame: baselineDecode } : {}),
})
process.on('message', async (m) => {
  if (m !== 'stop') return
  await ingester.close()
  process.send({ maxRssMb: process.resourceUsage().maxRSS / 1024 }, () => process.exit(0))
})
process.send('ready')
