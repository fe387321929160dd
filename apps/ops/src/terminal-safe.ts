/**
 * Text bound for a terminal, made inert: DLQ error text, hosts, cursors and record fields come
 * from remote peers, and a control sequence in them (ESC [ 2 J, OSC 52 clipboard writes, a
 * carriage return that overwrites a line, bidi overrides that reorder what is shown) must be
 * shown, not obeyed. Every control character except newline and tab — C0, DEL, C1 — and the
 * Unicode bidi/line-separator controls become `\u00XX`-style escapes, which are also valid
 * inside JSON strings (JSON.stringify leaves DEL, C1 and bidi controls raw), so the same
 * escaping serves table and `--json` output.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what this escapes
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

const escapeOne = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`

export const escapeControl = (s: string): string => s.replace(UNSAFE, escapeOne)

/** A writer that escapes everything it is given. */
export const terminalSafe =
  (write: (s: string) => void): ((s: string) => void) =>
  (s) =>
    write(escapeControl(s))
