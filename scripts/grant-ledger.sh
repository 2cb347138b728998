#!/usr/bin/env bash
# The `grant-ledger` CLI.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
exec node --import tsx "$root/scripts/cli.ts" "$@"
