/** An entry's fields and values, flat; a value may be a Buffer (written as its bytes). */
export type EntryFields = readonly (string | Buffer)[]

/** MessagePack of `[[field, value, …], …]`, every field and value as a str (str16/str32 over 31 bytes). */
export function packEntries(batch: readonly EntryFields[]): Buffer {
  let size = 5
  for (const fields of batch) {
    size += 5
    for (const f of fields) size += 5 + (typeof f === 'string' ? Buffer.byteLength(f, 'utf8') : f.length)
  }
  const out = Buffer.allocUnsafe(size)
  let at = arrayHeader(out, 0, batch.length)
  for (const fields of batch) {
    at = arrayHeader(out, at, fields.length)
    for (const f of fields) {
      const n = typeof f === 'string' ? Buffer.byteLength(f, 'utf8') : f.length
      if (n < 32) out[at++] = 0xa0 | n
      else if (n < 0x10000) {
        out[at] = 0xda
        out.writeUInt16BE(n, at + 1)
        at += 3
      } else {
        out[at] = 0xdb
        out.writeUInt32BE(n, at + 1)
        at += 5
      }
      at += typeof f === 'string' ? out.write(f, at, n, 'utf8') : f.copy(out, at)
    }
  }
  return out.subarray(0, at)
}

function arrayHeader(out: Buffer, at: number, n: number): number {
  if (n < 16) {
    out[at] = 0x90 | n
    return at + 1
  }
  if (n < 0x10000) {
    out[at] = 0xdc
    out.writeUInt16BE(n, at + 1)
    return at + 3
  }
  out[at] = 0xdd
  out.writeUInt32BE(n, at + 1)
  return at + 5
}
