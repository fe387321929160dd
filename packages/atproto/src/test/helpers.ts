/** Test helpers (excluded from the build): interop fixture paths and independent converters. */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CID } from 'multiformats/cid'

/** Finds `shared/interop-tests` by walking up from this file (it sits next to the repo). */
export const interopDir = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = join(dir, 'shared', 'interop-tests')
    if (existsSync(candidate)) return candidate
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`shared/interop-tests not found above ${fileURLToPath(import.meta.url)}`)
    dir = parent
  }
}

export const readInteropJson = <T>(rel: string): T => JSON.parse(readFileSync(join(interopDir(), rel), 'utf8')) as T

/** lex JSON → IPLD values (multiformats CID, Uint8Array), as @atproto/repo and @ipld/dag-cbor take. */
export const jsonToIpld = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(jsonToIpld)
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>
    const keys = Object.keys(obj)
    if (keys.length === 1 && typeof obj.$link === 'string') return CID.parse(obj.$link)
    if (keys.length === 1 && typeof obj.$bytes === 'string') return new Uint8Array(Buffer.from(obj.$bytes, 'base64'))
    return Object.fromEntries(keys.map((k) => [k, jsonToIpld(obj[k])]))
  }
  return value
}

/** IPLD values → lex JSON, written independently of src/lex.ts (the oracle side). */
export const ipldToJson = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(ipldToJson)
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64').replace(/=+$/, '') }
  const cid = CID.asCID(value)
  if (cid) return { $link: cid.toString() }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, ipldToJson(v)]))
  }
  return value
}
