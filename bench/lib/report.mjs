// Shared by every bench: peak RSS sampling and the closing JSON line.
export function rssSampler(intervalMs = 50) {
  let peak = process.memoryUsage().rss
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, intervalMs)
  t.unref()
  return {
    reset() {
      peak = process.memoryUsage().rss
    },
    peakMb() {
      peak = Math.max(peak, process.memoryUsage().rss)
      return Math.round(peak / 1024 / 1024)
    },
    stop() {
      clearInterval(t)
    },
  }
}

export const rate = (n, ms) => Math.round((n * 1000) / ms)

/** Print the closing JSON line: ratio = value / baseline. */
export function report({ bench, unit, value, baseline, peakRssMb, ...extra }) {
  const ratio = baseline > 0 ? Math.round((value / baseline) * 1000) / 1000 : null
  console.log(JSON.stringify({ bench, unit, value: Math.round(value), baseline: Math.round(baseline), ratio, peakRssMb, ...extra }))
}
