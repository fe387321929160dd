/** A small aligned-column printer for people; `--json` output bypasses it. */
import { escapeControl } from './terminal-safe.js'

export type Cell = string | number | boolean | null | undefined

export interface Column<R> {
  header: string
  value: (row: R) => Cell
  /** Right-align (numbers); default: right when the first non-empty value is a number. */
  align?: 'left' | 'right'
  /** Cut longer values with `…`. */
  max?: number
}

const show = (c: Cell): string => (c === null || c === undefined || c === '' ? '-' : String(c))

export function renderTable<R>(rows: R[], columns: Column<R>[]): string {
  const cells = rows.map((r) =>
    columns.map((c) => {
      // escaped before measuring, so that the columns stay aligned
      const s = escapeControl(show(c.value(r)).replace(/\s+/g, ' '))
      return c.max && s.length > c.max ? `${s.slice(0, c.max - 1)}…` : s
    }),
  )
  const right = columns.map((c) => c.align === 'right' || (c.align === undefined && rows.some((r) => typeof c.value(r) === 'number')))
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => (row[i] as string).length)))
  const line = (vals: string[]) =>
    vals
      .map((v, i) => (right[i] ? v.padStart(widths[i] as number) : v.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd()
  return `${[line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join('\n')}\n`
}
