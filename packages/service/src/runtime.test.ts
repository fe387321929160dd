/**
 * runService in a real child process (pino's way of testing exit behaviour): a bad variable
 * exits 2 naming it, a stuck main loop exits 70, SIGTERM runs the close steps in order (a step
 * that throws is logged by name, the others still run, the exit code is 1), a second signal
 * during a close that hangs exits at once.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))
const FIXTURE = join(here, 'test', 'fixture-service.mjs')

interface Run {
  child: ChildProcess
  out: () => string
  err: () => string
  /** Resolves when `text` appears on stdout. */
  seen(text: string): Promise<void>
  exited: Promise<number | null>
}

function run(env: Record<string, string>): Run {
  if (!existsSync(join(here, '..', 'dist', 'index.js'))) throw new Error('build @firehose/service first (dist/index.js is missing)')
  const child = spawn(process.execPath, [FIXTURE], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, ...env } })
  let out = ''
  let err = ''
  const waiters: { text: string; resolve: () => void }[] = []
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
    for (const w of waiters.filter((x) => out.includes(x.text))) w.resolve()
  })
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return {
    child,
    out: () => out,
    err: () => err,
    seen: (text) =>
      out.includes(text)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiters.push({ text, resolve })),
            exited.then((code) => {
              throw new Error(`exited (${String(code)}) before "${text}"; stdout: ${out}; stderr: ${err}`)
            }),
          ]),
    exited,
  }
}

/** A file the fixture's close steps append their names to, in the order they run. */
const traceFile = (): string => join(mkdtempSync(join(tmpdir(), 'runtime-')), 'trace')
const traced = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [])

const lines = (out: string): Record<string, unknown>[] =>
  out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)

describe('runService', () => {
  it('exits 2 naming the variable when the configuration is bad', async () => {
    const r = run({ FIXTURE_STALL_MS: 'soon' })
    expect(await r.exited).toBe(2)
    expect(r.err()).toMatch(/^fixture: invalid configuration: /)
    expect(r.err()).toContain('FIXTURE_REQUIRED: is required')
    expect(r.err()).toContain('FIXTURE_STALL_MS: must be an integer')
    expect(r.out()).toBe('')
  })

  it('exits 70 when the main loop is stuck, after one warning per old variable name', async () => {
    // set by its old name: read, with one deprecation warning
    const r = run({ FIXTURE_REQUIRED: 'x', FIXTURE_MODE: 'stuck', FIXTURE_STALL: '100' })
    expect(await r.exited).toBe(70)
    const warned = lines(r.out()).filter((l) => l.level === 'warn')
    expect(warned.map((l) => l.msg)).toEqual(['FIXTURE_STALL is deprecated: use FIXTURE_STALL_MS'])
    const stalled = lines(r.out()).find((l) => l.msg === 'main loop stalled: exiting so the supervisor restarts us')
    expect(stalled?.level).toBe('fatal')
  })

  it('on SIGTERM runs every close step in order, logs the failed one by name, exits 1', async () => {
    const trace = traceFile()
    // a long stall time: the healthy fixture must not be stopped by its watchdog meanwhile
    const r = run({ FIXTURE_REQUIRED: 'x', FIXTURE_STALL_MS: '60000', FIXTURE_TRACE: trace })
    await r.seen('fixture started')
    r.child.kill('SIGTERM')
    expect(await r.exited).toBe(1)
    expect(traced(trace)).toEqual(['first', 'second', 'third', 'fourth'])
    const logged = lines(r.out())
    const failed = logged.filter((l) => l.level === 'error' && typeof l.step === 'string')
    // the step that threw, then the runtime's step named after the app (the app's close rejected)
    expect(failed.map((l) => [l.step, l.msg])).toEqual([
      ['second', 'close step "second" failed'],
      ['fixture', 'close step "fixture" failed'],
    ])
    expect((failed[0]?.err as { message?: string } | undefined)?.message).toBe('boom')
    expect(logged.map((l) => l.msg)).toContain('shutdown failed')
  })

  it('a second signal exits at once when the close hangs', async () => {
    const trace = traceFile()
    const r = run({ FIXTURE_REQUIRED: 'x', FIXTURE_MODE: 'hang', FIXTURE_STALL_MS: '60000', FIXTURE_TRACE: trace })
    await r.seen('fixture started')
    r.child.kill('SIGTERM')
    await r.seen('shutting down')
    r.child.kill('SIGINT')
    expect(await r.exited).toBe(1)
    expect(r.out()).toContain('second signal: exiting now')
    expect(traced(trace)).toEqual(['first', 'hang'])
  })
})
