import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'

export const OPS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../..')
export const MAIN = join(OPS_DIR, 'dist/main.js')

/** Build the CLI once per test file, so a child process runs the current source. */
export function buildCli(): void {
  execFileSync(process.execPath, [join(OPS_DIR, '../../node_modules/typescript/bin/tsc'), '-p', join(OPS_DIR, 'tsconfig.build.json')], {
    stdio: 'inherit',
  })
}

export function redisUrl(): string {
  const url = process.env.REDIS_URL
  if (!url) throw new Error('REDIS_URL is not set: run the tests through vitest (its global setup starts Redis)')
  return url
}
export const newRedis = (): Redis => new Redis(redisUrl(), { maxRetriesPerRequest: null })
export const uniqueName = (prefix: string): string => `${prefix}_${randomBytes(6).toString('hex')}`

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  ms: number
}

/** Run `node dist/main.js …args` as a child process with REDIS_URL set (unless overridden). */
export function ops(
  args: string[],
  opts: { env?: Record<string, string | undefined>; input?: string; onStderr?: (soFar: string) => void } = {},
): Promise<CliResult> {
  const start = Date.now()
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [MAIN, ...args],
      // the test hosts listen on 127.0.0.1: exactly that is allowed to the peer policy
      {
        env: withoutUndefined({ PATH: process.env.PATH, REDIS_URL: redisUrl(), ALLOW_PRIVATE_NETWORKS: '127.0.0.1/32', ...opts.env }),
        timeout: 30_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        resolve({ code, stdout, stderr, ms: Date.now() - start })
      },
    )
    if (opts.onStderr) {
      let soFar = ''
      child.stderr?.on('data', (d: Buffer | string) => {
        soFar += d.toString()
        opts.onStderr?.(soFar)
      })
    }
    if (opts.input !== undefined) child.stdin?.end(opts.input)
    else child.stdin?.end()
  })
}

export async function opsJson<T = unknown>(args: string[], opts?: Parameters<typeof ops>[1]): Promise<T> {
  const r = await ops([...args, '--json'], opts)
  if (r.code !== 0) throw new Error(`ops ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

const withoutUndefined = (env: Record<string, string | undefined>): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv
