#!/usr/bin/env bash
# The README's main command: set-up, local services, then the whole pipeline (ingester,
# backfiller, indexer as separate processes; an embedded AT Protocol network when no relay is
# configured). Ctrl-C stops everything it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/bootstrap.sh
# Stop on exit only what this command started (not services given by URL or already running).
started_services=0
if { [ -z "${REDIS_URL:-}" ] || [ -z "${DATABASE_URL:-}" ]; } && ! bash scripts/services.sh running; then started_services=1; fi
eval "$(bash scripts/services.sh start)"
cleanup() {
  if [ "$started_services" = 1 ] && [ -z "${KEEP_SERVICES:-}" ]; then bash scripts/services.sh stop || true; fi
}
trap cleanup EXIT
trap 'kill -INT "$pid" 2>/dev/null; wait "$pid"' INT TERM
node tools/pipeline/dist/main.js &
pid=$!
wait "$pid" || true
