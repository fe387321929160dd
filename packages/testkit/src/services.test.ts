import { chmodSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { startPrivateServices } from './services.js'

const isRoot = process.getuid?.() === 0

/** Whether something accepts connections on the port of `url`. */
function listening(url: string): Promise<boolean> {
  const port = Number(new URL(url).port)
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

describe('private services', () => {
  // A test's own services are ~50 MB of Postgres data; four test files start one each run, so
  // their folders must go with them (the runtime folder under /var/tmp too, for a checkout the
  // postgres user cannot enter).
  it('leave nothing behind once removed: not their folder, nor a runtime folder outside it', async () => {
    // as root, a 0700 folder the postgres user cannot enter, as a private checkout is
    const parent = mkdtempSync('/tmp/services-test-')
    if (isRoot) chmodSync(parent, 0o700)
    const folder = join(parent, 'services')
    try {
      const services = await startPrivateServices('remove', { folder })
      const runtime = existsSync(join(folder, 'runtime')) ? realpathSync(join(folder, 'runtime')) : undefined
      if (isRoot) expect(runtime).toMatch(/^\/var\/tmp\/firehose-workers-/)
      expect(await listening(services.databaseDirectUrl)).toBe(true)
      await services.remove()
      expect(existsSync(folder)).toBe(false)
      if (runtime) expect(existsSync(runtime)).toBe(false)
      expect(await listening(services.databaseDirectUrl)).toBe(false)
      expect(await listening(services.redisUrl)).toBe(false)
    } finally {
      rmSync(parent, { recursive: true, force: true })
    }
  }, 120_000)

  it.runIf(isRoot)(
    'a start removes the runtime folders of services folders that no longer exist, and no other',
    async () => {
      const gone = '/var/tmp/firehose-workers-0000000test0'
      const kept = '/var/tmp/firehose-workers-0000000test1'
      const keptFolder = mkdtempSync('/tmp/services-kept-')
      try {
        for (const [d, owner] of [
          [gone, '/tmp/a-checkout-deleted-long-ago/.local/services'],
          [kept, keptFolder],
        ] as const) {
          mkdirSync(join(d, 'pg'), { recursive: true })
          writeFileSync(join(d, 'services-folder'), `${owner}\n`)
        }
        // a start from a private folder sweeps: here a fresh one's, removed at once
        const parent = mkdtempSync('/tmp/services-test-')
        chmodSync(parent, 0o700)
        try {
          await (await startPrivateServices('sweep', { folder: join(parent, 'services') })).remove()
        } finally {
          rmSync(parent, { recursive: true, force: true })
        }
        expect(existsSync(gone)).toBe(false)
        expect(existsSync(kept)).toBe(true)
      } finally {
        rmSync(gone, { recursive: true, force: true })
        rmSync(kept, { recursive: true, force: true })
        rmSync(keptFolder, { recursive: true, force: true })
      }
    },
    120_000,
  )
})
