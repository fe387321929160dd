import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * True when the module at `moduleUrl` (its `import.meta.url`) is the script node was started
 * with, and not a module imported by a test or the bench. Both sides are resolved through
 * symlinks (pnpm's `node_modules/.bin`, a linked checkout), so `node dist/main.js`, a bin link and
 * an absolute path all count.
 */
export function isEntryPoint(moduleUrl: string, argv1: string | undefined = process.argv[1]): boolean {
  if (argv1 === undefined) return false
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(moduleUrl))
  } catch {
    return false
  }
}
