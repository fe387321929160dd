#!/usr/bin/env bash
# The README's test command: set-up (Node 22, pnpm, dependencies, build, local services), then
# the typecheck, the lint (linter and formatter check) and every test. The last line is
# `N passed, N failed`, the typecheck and the lint counted as one check each.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/bootstrap.sh || { echo "0 passed, 1 failed"; exit 1; }
eval "$(bash scripts/services.sh start)" || { echo "0 passed, 1 failed"; exit 1; }
# Tools the deploy checks use (promtool, docker-compose): Debian's packages, when we may install.
if [ "$(id -u)" = 0 ] && { ! command -v promtool >/dev/null || ! command -v docker-compose >/dev/null; }; then
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus docker-compose; } >/dev/null 2>&1 \
    || echo "[test] could not install prometheus / docker-compose: the deploy checks that need them are skipped" >&2
fi
# deploy/image.test.ts cuts each app's production tree with `pnpm deploy --legacy --offline`,
# which resolves from pnpm's metadata cache; a frozen-lockfile install leaves that cache empty.
# Fill it here, in the set-up (where the registry may be reached), so the test stays offline.
if ! ls "${XDG_CACHE_HOME:-$HOME/.cache}"/pnpm/metadata*/registry.npmjs.org/@atproto/api.json >/dev/null 2>&1; then
  warm="$(mktemp -d)"
  for app in ingester backfiller indexer ops; do
    pnpm --filter "@firehose/$app" deploy --prod --legacy --prefer-offline "$warm/$app" >/dev/null 2>&1 \
      || echo "[test] could not fill pnpm's metadata cache for $app: deploy/image.test.ts will fail" >&2
  done
  rm -rf "$warm"
fi
# What the tests and the servers they start in-process leave in the temp directory (dev-env's
# PDS data directories, which it never removes, ~20 MB a run) goes under .local/tmp, emptied at
# the start of each run instead of piling up in /tmp.
export TMPDIR="$ROOT/.local/tmp"
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
# TypeScript strict over every package, tests included: counted as one check in the summary.
typecheck=0
pnpm -s exec turbo run typecheck --output-logs=errors-only || typecheck=1
# The linter and the formatter in check mode (Biome, biome.jsonc): one more check in the summary.
lint=0
pnpm -s lint || lint=1
mkdir -p .local
report=.local/vitest-report.json
rm -f "$report"
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
code=$?
node -e '
const fs = require("fs");
let passed = 0, failed = 0;
try {
  const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  passed = r.numPassedTests; failed = r.numFailedTests + (r.numRuntimeErrorTestSuites || 0);
  if (!r.success && failed === 0) failed = 1;
} catch { failed = 1 }
if (process.argv[2] !== "0" && failed === 0) failed = 1;
for (const check of process.argv.slice(3)) if (check === "0") passed += 1; else failed += 1;
console.log(`${passed} passed, ${failed} failed`);
' "$report" "$code" "$typecheck" "$lint"
[ "$typecheck" = 0 ] && [ "$lint" = 0 ] || { [ "$code" = 0 ] && code=1; }
exit $code
