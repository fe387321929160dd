import { parseArgs, type ParseArgsConfig } from 'node:util'
import { UsageError } from './errors.js'

type Options = NonNullable<ParseArgsConfig['options']>

/** Options every command accepts. */
export const GLOBAL_OPTIONS = {
  'redis-url': { type: 'string' },
  'cluster-nodes': { type: 'string' },
  shards: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
}

/** `parseArgs` in strict mode, with its errors turned into UsageErrors naming the command. */
export function parse(command: string, argv: string[], options: Options): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    })
    return { values: values as Parsed['values'], positionals }
  } catch (err) {
    const msg = err instanceof Error ? err.message.replace(/\. To specify a positional argument.*$/s, '') : String(err)
    throw new UsageError(msg, command)
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `500ms`, `30s`, `5m`, `1h`, `2d`, `1h30m`, or a bare number of milliseconds. */
export function parseDuration(option: string, v: string): number {
  const s = v.trim()
  if (/^\d+$/.test(s)) return Number(s)
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy
  let total = 0
  let end = 0
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * (UNITS[m[2] as string] as number)
    end = re.lastIndex
  }
  if (s === '' || end !== s.length) {
    throw new UsageError(`--${option} must be a duration like 30s, 5m, 1h or 1h30m, got "${v}"`)
  }
  return Math.round(total)
}

export function parseIntOption(option: string, v: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(v.trim())) throw new UsageError(`--${option} must be a whole number, got "${v}"`)
  const n = Number(v.trim())
  if (n < min || n > max) throw new UsageError(`--${option} must be between ${min} and ${max}, got ${n}`)
  return n
}

/** Human form of a millisecond duration: `950ms`, `42s`, `3m12s`, `5h02m`, `2d03h`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-'
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`
}

/** A stream entry id `<ms>-<seq>` (or `<ms>`, which Redis completes to `<ms>-0`). */
export function checkEntryId(v: string): string {
  if (!/^\d+(-\d+)?$/.test(v)) throw new UsageError(`"${v}" is not a stream entry id (expected <ms>-<seq>, e.g. 1700000000000-0)`)
  return v
}

/** Milliseconds since the time encoded in an entry id. */
export function entryAgeMs(id: string | null | undefined, now = Date.now()): number | null {
  if (!id) return null
  const ms = Number(id.split('-')[0])
  return Number.isFinite(ms) ? Math.max(0, now - ms) : null
}

const DID_RE = /^did:[a-z]+:[a-zA-Z0-9._:%-]+$/

export function checkDid(v: string, where = ''): string {
  const s = v.trim()
  if (!DID_RE.test(s) || s.length > 2048) throw new UsageError(`${where}"${v}" is not a DID (expected did:plc:… or did:web:…)`)
  return s
}
