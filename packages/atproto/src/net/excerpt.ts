/**
 * What a peer sent, made safe to log or store: at most `max` characters, control and format
 * characters (terminal escapes, bidi overrides) replaced by `?`.
 */
export function excerpt(text: string, max = 120): string {
  const short = text.length > max ? `${text.slice(0, max)}…` : text
  return short.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '?')
}
