/**
 * atproto identifier syntax (atproto.com/specs: DID, NSID, Record Key, TID), as plain regular
 * expressions for the hot path: every live op is checked. Conformance: the interop-tests syntax
 * vectors (syntax.test.ts).
 */

/** `did:<method>:<id>`, at most 2 KB; `%` and `:` may not end it. */
const DID = /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/
export const isValidDid = (s: string): boolean => s.length <= 2048 && DID.test(s)

/**
 * Reversed domain authority (segments of 1-63 letters, digits and inner hyphens, the first
 * starting with a letter) and a name (a letter, then letters and digits), at most 317 chars.
 */
const NSID = /^[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+\.[a-zA-Z][a-zA-Z0-9]{0,62}$/
export const isValidNsid = (s: string): boolean => s.length <= 317 && NSID.test(s)

/** 1-512 of `A-Za-z0-9 . - _ : ~`, not `.` or `..` (so never a `/`). */
const RECORD_KEY = /^[a-zA-Z0-9_~.:-]{1,512}$/
export const isValidRecordKey = (s: string): boolean => RECORD_KEY.test(s) && s !== '.' && s !== '..'

/** 13 base32-sortable chars, the first one with the top bit clear. */
const TID = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/
export const isValidTid = (s: string): boolean => TID.test(s)
