// Bench settings read from the environment, checked once at start.

/** The positive integer in env var `name` (`fallback` when unset); a bad value stops the bench naming it. */
export function positive(name, fallback) {
  const raw = process.env[name] ?? String(fallback)
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new Error(`${name} must be a positive integer (got "${raw}")`)
  return Number(raw)
}
