import { Gauge, Registry, collectDefaultMetrics } from 'prom-client'

export { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** A dedicated registry with default process metrics and `<prefix>_build_info`. */
export function createRegistry(prefix: string, version = '0.1.0'): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const info = new Gauge({
    name: `${prefix}_build_info`,
    help: 'Build information; always 1',
    labelNames: ['version', 'node'],
    registers: [registry],
  })
  info.set({ version, node: process.version }, 1)
  return registry
}

/** Seconds-based buckets for batch / write latency histograms. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
