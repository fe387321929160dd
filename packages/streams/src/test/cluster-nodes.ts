import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** Seed nodes of the real 3-node Redis Cluster started by the services script (or REDIS_CLUSTER_NODES). */
export function clusterNodes(): string[] {
  if (process.env.REDIS_CLUSTER_NODES) return process.env.REDIS_CLUSTER_NODES.split(',')
  const script = fileURLToPath(new URL('../../../../scripts/services.sh', import.meta.url))
  const out = execFileSync('bash', [script, 'cluster', 'start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  const m = /REDIS_CLUSTER_NODES='([^']+)'/.exec(out)
  if (!m?.[1]) throw new Error(`cluster did not start: ${out}`)
  return m[1].split(',')
}
