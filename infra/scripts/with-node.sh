#!/usr/bin/env bash
# Run one command on the project's Node (22 or 24; see use-node.sh), e.g. `pnpm cli` on a machine
# whose own node is older: with-node.sh tsx apps/cli/src/main.ts …
set -euo pipefail
MCPRT_USE_NODE_QUIET=1 source "$(dirname "${BASH_SOURCE[0]}")/use-node.sh"
exec "$@"
