#!/usr/bin/env bash
# Runs a command with Node.js 22 first on PATH (ops/env.sh: the machine's node
# when it is 22 or newer, else the one installed into .tools/node22). `npm test`
# goes through it, so it works from a shell whose node is older.
set -euo pipefail
# shellcheck source=ops/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$@"
