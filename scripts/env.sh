# Source to put the project's Node 22 and pnpm on PATH without installing or building.
BOOTSTRAP_SKIP_INSTALL=1 BOOTSTRAP_SKIP_BUILD=1 source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
