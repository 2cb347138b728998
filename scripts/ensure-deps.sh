#!/usr/bin/env bash
# Installs the npm dependencies when they are missing or older than the lockfile, so the README's
# commands work on a fresh machine. better-sqlite3 compiles from source here (about a minute).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
stamp="node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || ! node -e "require('better-sqlite3')" 2>/dev/null; then
  echo "installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
