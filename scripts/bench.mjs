#!/usr/bin/env node
// `pnpm bench <name>`: builds, starts the local services the bench needs (unless REDIS_URL /
// DATABASE_URL are given), then runs bench/<name>/index.mjs. The bench prints readable figures
// and, as its last line, one JSON object {bench, unit, value, baseline, ratio, peakRssMb}.
import { execFileSync, spawnSync } from 'node:child_process'
import { ensureServices } from './services-env.mjs'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const name = process.argv[2]
const available = readdirSync(join(root, 'bench'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, 'bench', d.name, 'index.mjs')))
  .map((d) => d.name)
if (!name || !available.includes(name)) {
  console.error(`usage: pnpm bench <name>   (one of: ${available.join(', ')})`)
  process.exit(2)
}
execFileSync('pnpm', ['-s', 'build'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
ensureServices(['REDIS_URL', 'DATABASE_URL'])
const env = { ...process.env }
const r = spawnSync(process.execPath, [...process.execArgv, join(root, 'bench', name, 'index.mjs'), ...process.argv.slice(3)], {
  cwd: root,
  env,
  stdio: 'inherit',
})
process.exit(r.status ?? 1)
