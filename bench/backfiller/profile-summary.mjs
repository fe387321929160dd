// Summarises a V8 .cpuprofile (from BENCH_CPU_PROF=<dir> pnpm bench backfiller): self time by
// function and by source file / package. argv: <file.cpuprofile> [top N]
import { readFileSync } from 'node:fs'

const [file, topArg] = process.argv.slice(2)
const top = Number(topArg ?? 30)
const prof = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map(prof.nodes.map((n) => [n.id, n]))
const self = new Map()
const dt = prof.timeDeltas
for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (dt[i] ?? 0))
const total = [...self.values()].reduce((a, b) => a + b, 0)
const fns = new Map()
const files = new Map()
for (const [id, us] of self) {
  const { callFrame: f } = byId.get(id)
  const where = f.url
    .replace(/^file:\/\//, '')
    .replace(/.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')
    .replace(/^\/work\/main\//, '')
  const key = `${f.functionName || '(anonymous)'}  ${where}:${f.lineNumber + 1}`
  fns.set(key, (fns.get(key) ?? 0) + us)
  const pkg =
    where === ''
      ? f.functionName
      : where
          .split('/')
          .slice(0, where.startsWith('@') ? 2 : where.startsWith('node:') ? 1 : 3)
          .join('/')
  files.set(pkg, (files.get(pkg) ?? 0) + us)
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`
console.log(`total ${(total / 1e6).toFixed(2)} s sampled`)
console.log('\nby package / file:')
for (const [k, us] of [...files].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${pct(us)}  ${k}`)
console.log('\nby function (self):')
for (const [k, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`)
