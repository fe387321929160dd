import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const appDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The backfiller's entry point, for tests that run it as a child process. */
export const mainJs = join(appDir, 'dist', 'main.js')

/** Build dist/ when it is missing or older than a source file. */
export function ensureBuilt(): void {
  const newest = Math.max(
    ...readdirSync(join(appDir, 'src'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => statSync(join(appDir, 'src', f)).mtimeMs),
  )
  if (existsSync(mainJs) && statSync(mainJs).mtimeMs >= newest) return
  execFileSync(process.execPath, [join(appDir, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
    cwd: appDir,
    stdio: 'inherit',
  })
}
