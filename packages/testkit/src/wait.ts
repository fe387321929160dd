/**
 * Poll until `check` is true, instead of sleeping a fixed time. A check that throws fails the
 * wait at once. Imported alone as `@firehose/testkit/wait`, it loads nothing else (the package
 * index loads @atproto/dev-env).
 */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
  what = 'condition',
  intervalMs = 50,
): Promise<void> {
  const start = Date.now()
  while (Date.now() - start < timeoutMs) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}
