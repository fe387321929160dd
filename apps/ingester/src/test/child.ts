/** Runs the built ingester (`dist/main.js`) in a child process, as operators do. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const appDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const mainJs = join(appDir, 'dist', 'main.js')

/** Build dist/ when a source file is newer than dist/main.js. */
export function ensureBuilt(): void {
  let built = 0
  try {
    built = statSync(mainJs).mtimeMs
  } catch {
    built = 0
  }
  // sources of the build only (tests and test helpers are not in dist)
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true })
        .filter((e) => (e.isDirectory() ? e.name !== 'test' : !e.name.endsWith('.test.ts')))
        .map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)),
    )
  if (newest(join(appDir, 'src')) > built) {
    const tsc = join(appDir, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc')
    execFileSync(process.execPath, [tsc, '-p', join(appDir, 'tsconfig.build.json')], { stdio: 'inherit' })
  }
}

export interface Child {
  proc: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

export function spawnIngester(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, [mainJs], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', METRICS_PORT: '0', INGESTER_VERIFY: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  return { proc, output: () => out, exited }
}

/** Resident set size of a process in bytes (Linux). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /VmRSS:\s+(\d+) kB/.exec(status)
  return m ? Number(m[1]) * 1024 : 0
}
