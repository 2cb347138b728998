#!/usr/bin/env bash
# The `grant-ledger` CLI.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
bash "$root/scripts/build.sh" >&2
exec node "$root/dist/scripts/cli.js" "$@"
