// CPU seconds used by the local services (Postgres backends, pgbouncer, Redis) during a bench
// phase, read from /proc (Linux). Postgres backends come and go (a dropped database takes its
// backends with it), so processes are sampled while the phase runs: `sample()` often, `total()`
// at the end. Each process is keyed by pid and start time, so a reused pid is a new process.
import { readdirSync, readFileSync } from 'node:fs'

const TICKS = 100 // USER_HZ on Linux
const NAMES = new Set(['postgres', 'pgbouncer', 'redis-server'])

/** A process's name, start time and CPU seconds (user + system) from its /proc/<pid>/stat text. */
function parseStat(text) {
  const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'))
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return { name, start: f[19], seconds: (Number(f[11]) + Number(f[12])) / TICKS }
}

/** CPU seconds (user + system) of process `pid` so far; 0 when it is gone. */
export function cpuSeconds(pid) {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).seconds
  } catch {
    return 0
  }
}

function snapshot() {
  const out = new Map()
  let pids = []
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p))
  } catch {
    return out
  }
  for (const pid of pids) {
    let text
    try {
      text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    } catch {
      continue
    }
    const { name, start, seconds } = parseStat(text)
    if (NAMES.has(name)) out.set(`${pid}:${start}`, { name, seconds })
  }
  return out
}

/** Whole-machine CPU seconds so far: busy and idle (all cores). */
function machine() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const idle = (f[3] + f[4]) / TICKS
  return { busy: f.reduce((a, b) => a + b, 0) / TICKS - idle, idle }
}

export function serviceCpuMeter() {
  const first = snapshot()
  const last = new Map(first)
  const m0 = machine()
  return {
    sample() {
      for (const [k, v] of snapshot()) last.set(k, v)
    },
    /** { postgres, pgbouncer, 'redis-server': seconds, machineBusy, machineIdle } since the meter started. */
    total() {
      this.sample()
      const by = { postgres: 0, pgbouncer: 0, 'redis-server': 0 }
      for (const [k, v] of last) by[v.name] += v.seconds - (first.get(k)?.seconds ?? 0)
      const m1 = machine()
      return { ...by, machineBusy: m1.busy - m0.busy, machineIdle: m1.idle - m0.idle }
    },
  }
}
