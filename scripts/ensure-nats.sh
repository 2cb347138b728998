#!/usr/bin/env bash
# Prints the path of a nats-server >= 2.10, installing Debian trixie's package into .tools/ when none is on PATH.
# Bookworm's 2.9.10 has a clustered concurrency-check race and no fsync setting, so it is never used.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
local_bin="$tools/nats/usr/sbin/nats-server"

version_ok() {
  local v
  v="$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')" || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 10 ]; }
}

if [ -n "${NATS_SERVER_BIN:-}" ] && version_ok "$NATS_SERVER_BIN"; then echo "$NATS_SERVER_BIN"; exit 0; fi
if [ -x "$local_bin" ] && version_ok "$local_bin"; then echo "$local_bin"; exit 0; fi
if command -v nats-server >/dev/null 2>&1 && version_ok "$(command -v nats-server)"; then command -v nats-server; exit 0; fi

echo "fetching nats-server from Debian trixie into $tools/nats" >&2
mkdir -p "$tools/apt/lists/partial" "$tools/apt/archives/partial" "$tools/nats"
cat > "$tools/apt/sources.list" <<SRC
deb http://deb.debian.org/debian trixie main
SRC
apt_opts=(-o "Dir::Etc::SourceList=$tools/apt/sources.list" -o "Dir::Etc::SourceParts=-"
  -o "Dir::State::Lists=$tools/apt/lists" -o "Dir::Cache::Archives=$tools/apt/archives"
  -o "Dir::State::Status=/var/lib/dpkg/status" -o "APT::Get::List-Cleanup=0")
apt-get "${apt_opts[@]}" -qq update >&2
( cd "$tools/apt" && chmod 777 . && apt-get "${apt_opts[@]}" -qq download nats-server >&2 )
deb="$(ls -t "$tools"/apt/nats-server_*.deb | head -n 1)"
dpkg -x "$deb" "$tools/nats"
version_ok "$local_bin" || { echo "nats-server from $deb is not >= 2.10" >&2; exit 1; }
echo "$local_bin"
