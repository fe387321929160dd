// The ceiling of any bulk path on this machine: how long Postgres takes to load the final rows of
// a database the normal path filled, by COPY, with no rule applied (no versions, no duplicates, no
// derived rows: the rows are already right). Run `BENCH_BULK_KEEP=1 pnpm bench indexer-bulk`
// first, then `node bench/indexer-bulk/ceiling.mjs <the kept normal database>`.
//
// Each table the writer fills is written to a server-side file (COPY … TO, as the bench's
// superuser), then loaded into fresh migrated databases in one connection, counter triggers off
// (`session_replication_role = replica`: the rows' counters are already in the files):
//   indexed   every index of the schema in place during the COPY;
//   deferred  every index and key dropped first and built after the COPY (one at a time);
//   unnest    as deferred, the rows sent by this process instead, 500 a statement, each column a
//             text[] parameter (the writer's `insertSql` form), pg's client escaping included.
// The three are alternated ROUNDS times (default 2). One connection is one backend: its wall clock
// is one core's time, so µs a record here is Postgres CPU a record.
// The indexer's side of such a load, in this process: the bench's events (BENCH_EVENTS, the same
// mix and size as `pnpm bench indexer-bulk`'s) decoded from their stream form, validated
// (prepareEvents) and turned into the rows of every table (the record modules' toRows), each row
// encoded as a COPY text line: the least a loader does in Node per record before Postgres.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ensureServices } from '../../scripts/services-env.mjs'
import { eventMix } from '../indexer/events.mjs'
import { positive } from '../lib/env.mjs'
import { admin, root, withClient, withDb } from '../lib/indexer-drain.mjs'

const source = process.argv[2]
if (!source || !/^[a-z0-9_]+$/.test(source)) {
  console.error('usage: node bench/indexer-bulk/ceiling.mjs <database filled by the normal path>')
  process.exit(2)
}
const ROUNDS = positive('BENCH_CEILING_ROUNDS', 2)
ensureServices(['DATABASE_DIRECT_URL'])
const { WRITTEN_TABLES } = await import(pathToFileURL(join(root, 'apps/indexer/dist/db/written-tables.js')).href)
const { migrate } = await import(pathToFileURL(join(root, 'apps/indexer/dist/db/migrator.js')).href)
const { decodeEvent, encodeEvent } = await import(pathToFileURL(join(root, 'packages/streams/dist/index.js')).href)
const { prepareEvents } = await import(pathToFileURL(join(root, 'apps/indexer/dist/writer/prepare.js')).href)
const TABLES = [...WRITTEN_TABLES.map(([t]) => t), 'indexer_snapshot_floor']
const quoted = (t) => `"${t}"`

/** COPY's text format: tab-separated, \\N for null, backslash, tab and newlines escaped. */
const copyField = (v) =>
  v === null || v === undefined
    ? '\\N'
    : String(v).replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c])
const copyLine = (spec, row) => `${spec.columns.map((c) => copyField(row[c.name])).join('\t')}\n`

const RECORD = { columns: ['uri', 'cid', 'did', 'json', 'indexedAt', 'rev'].map((name) => ({ name })) }

/** Node's share a record: decode, validate, rows, COPY lines (µs of this thread's CPU a record). */
function nodeSide() {
  const lines = eventMix(positive('BENCH_EVENTS', 60_000), { accounts: 20_000, tag: 'c' }).map(encodeEvent)
  const cpu0 = process.cpuUsage()
  let records = 0
  let bytes = 0
  for (let i = 0; i < lines.length; i += 500) {
    for (const p of prepareEvents(lines.slice(i, i + 500).map(decodeEvent))) {
      if (p.kind !== 'record' || p.op.event.type === 'delete') continue
      const { op } = p
      records++
      const stored = { uri: op.uri, cid: op.event.cid, did: op.did, json: JSON.stringify(op.event.record), indexedAt: op.time, rev: op.rev }
      bytes += copyLine(RECORD, stored).length
      if (!op.module) continue
      const rows = op.module.toRows(
        { uri: op.uri, did: op.did, collection: op.collection, rkey: op.rkey, cid: op.event.cid, indexedAt: op.time },
        op.event.record,
      )
      if (!rows) continue
      bytes += copyLine(op.module.main, rows.main).length
      rows.extra.forEach((list, k) => {
        for (const row of list) bytes += copyLine(op.module.extra[k], row).length
      })
    }
  }
  const cpu = process.cpuUsage(cpu0)
  return { records, us: (cpu.user + cpu.system) / records, bytes: bytes / records }
}

const dir = mkdtempSync(join(tmpdir(), 'ceiling-'))
chmodSync(dir, 0o777) // the server's own user writes and reads the files
const fileOf = (t) => join(dir, `${t}.copy`)
try {
  const records = await withClient(source, async (db) => {
    for (const t of TABLES) await db.query(`COPY ${quoted(t)} TO '${fileOf(t)}'`)
    return Number((await db.query('SELECT count(*) AS n FROM record')).rows[0].n)
  })
  const sent = await withClient(source, async (db) => {
    const out = []
    for (const t of TABLES) {
      const cols = (
        await db.query(
          `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
           WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum`,
          [quoted(t)],
        )
      ).rows
      const rows = (
        await db.query({ text: `SELECT ${cols.map((c) => `${quoted(c.name)}::text`).join(', ')} FROM ${quoted(t)}`, rowMode: 'array' })
      ).rows
      out.push({ t, cols, rows })
    }
    return out
  })
  const modes = ['deferred', 'indexed', 'unnest']
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
      const target = `${source}_ceiling`
      await admin(`DROP DATABASE IF EXISTS ${target} WITH (FORCE)`)
      await admin(`CREATE DATABASE ${target}`)
      await migrate(withDb(process.env.DATABASE_DIRECT_URL, target))
      const r = await withClient(target, async (db) => {
        const scope = `c.relname = ANY($1) AND n.nspname = 'public'`
        const indexes = (
          await db.query(
            `SELECT pg_get_indexdef(i.indexrelid) AS def, k.conname, c.relname,
               pg_get_constraintdef(k.oid) AS condef, i.indexrelid::regclass::text AS name
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = c.oid
             WHERE ${scope}`,
            [TABLES],
          )
        ).rows
        if (mode !== 'indexed')
          for (const x of indexes)
            await db.query(x.conname ? `ALTER TABLE ${quoted(x.relname)} DROP CONSTRAINT ${quoted(x.conname)}` : `DROP INDEX ${x.name}`)
        await db.query(`SET session_replication_role = replica`)
        await db.query(`SET maintenance_work_mem = '256MB'`)
        const t0 = performance.now()
        if (mode === 'unnest')
          for (const { t, cols, rows } of sent)
            for (let i = 0; i < rows.length; i += 500) {
              const slice = rows.slice(i, i + 500)
              await db.query(
                `INSERT INTO ${quoted(t)} (${cols.map((c) => quoted(c.name)).join(', ')})
                 SELECT ${cols.map((c, j) => `c${j}::${c.type}`).join(', ')}
                 FROM unnest(${cols.map((_, j) => `$${j + 1}::text[]`).join(', ')}) AS u(${cols.map((_, j) => `c${j}`).join(', ')})`,
                cols.map((_, j) => slice.map((r) => r[j])),
              )
            }
        else for (const t of TABLES) await db.query(`COPY ${quoted(t)} FROM '${fileOf(t)}'`)
        const t1 = performance.now()
        if (mode !== 'indexed')
          for (const x of indexes)
            await db.query(x.conname ? `ALTER TABLE ${quoted(x.relname)} ADD CONSTRAINT ${quoted(x.conname)} ${x.condef}` : x.def)
        return { copy: t1 - t0, build: performance.now() - t1, indexes: indexes.length }
      })
      await admin(`DROP DATABASE ${target} WITH (FORCE)`)
      const us = (ms) => Math.round((ms * 1000) / records)
      console.log(
        `${mode.padEnd(8)} ${mode === 'unnest' ? 'INSERT' : 'COPY'} ${(r.copy / 1000).toFixed(2)} s + index builds ${(r.build / 1000).toFixed(2)} s (${r.indexes} indexes) = ${us(r.copy + r.build)} µs of one core a record, ${Math.round((records * 1000) / (r.copy + r.build))} records/s`,
      )
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    const n = nodeSide()
    console.log(
      `node     decode, validate, rows, COPY lines: ${n.us.toFixed(1)} µs of CPU a record (${n.records} records, ${Math.round(n.bytes)} B of COPY text a record)`,
    )
  }
  console.log(`${records} records; the normal path's rate is printed by \`pnpm bench indexer-bulk\` (its baseline)`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
