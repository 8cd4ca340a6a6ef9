#!/usr/bin/env bash
# Build / start / stop a local FerretDB (SQLite backend) for tests.
#   scripts/ferretdb.sh build                 -> prints path of cached binary
#   scripts/ferretdb.sh start <datadir> <port> -> starts on 127.0.0.1:<port> (behind the atomic gate)
#   scripts/ferretdb.sh stop <datadir>
set -euo pipefail
# shellcheck source=lib/tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/tools.sh"

FERRETDB_VERSION=v1.24.2
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/sails-hook-transact/ferretdb-${FERRETDB_VERSION}"
BIN="$CACHE_DIR/ferretdb"

die() { echo "ferretdb.sh: $*" >&2; exit 1; }

cmd_build() {
  if [ -x "$BIN" ]; then
    echo "$BIN"
    return 0
  fi
  local go; go="$(find_go)"
  export PATH="$(dirname "$go"):$PATH"
  # Downloads the module (the installed binary itself panics: no version.txt in module zip).
  go install "github.com/FerretDB/FerretDB/cmd/ferretdb@${FERRETDB_VERSION}" >&2
  local moddir
  moddir="$(go mod download -json "github.com/FerretDB/FerretDB@${FERRETDB_VERSION}" \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(!j.Dir)process.exit(1);process.stdout.write(j.Dir)})')" \
    || die "could not locate FerretDB module dir"
  [ -d "$moddir" ] || die "module dir $moddir missing"
  local tmp; tmp="$(mktemp -d)"
  cp -r "$moddir" "$tmp/src"
  chmod -R u+w "$tmp/src"
  printf '%s\n' "$FERRETDB_VERSION" > "$tmp/src/build/version/version.txt"
  mkdir -p "$CACHE_DIR"
  (cd "$tmp/src" && go build -o "$BIN.tmp.$$" ./cmd/ferretdb) >&2 || { rm -rf "$tmp"; die "go build failed"; }
  mv -f "$BIN.tmp.$$" "$BIN"
  rm -rf "$tmp"
  echo "$BIN"
}

port_open() {
  node -e '
    const s = require("net").connect({ host: "127.0.0.1", port: +process.argv[1] });
    s.setTimeout(1000);
    s.on("connect", () => { s.destroy(); process.exit(0); });
    s.on("error", () => process.exit(1));
    s.on("timeout", () => { s.destroy(); process.exit(1); });
  ' "$1"
}

free_port() {
  node -e '
    const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { process.stdout.write(String(s.address().port)); s.close(); });
  '
}

# FerretDB listens on a port of its own; <port> is the atomic gate in front of it
# (scripts/mongo-atomic-gate.js: one write command at a time, as MongoDB's conditional updates are
# atomic and FerretDB's are not). FERRETDB_UNGATED=1 puts FerretDB itself on <port>.
cmd_start() {
  local datadir="${1:?usage: ferretdb.sh start <datadir> <port>}"
  local port="${2:?usage: ferretdb.sh start <datadir> <port>}"
  local bin; bin="$(cmd_build)"
  rm -rf "$datadir/db"
  mkdir -p "$datadir/db"
  datadir="$(cd "$datadir" && pwd)"
  local ferret_port="$port"
  [ "${FERRETDB_UNGATED:-}" = 1 ] || ferret_port="$(free_port)"
  "$bin" --handler=sqlite --sqlite-url="file:$datadir/db/" \
    --listen-addr="127.0.0.1:$ferret_port" --telemetry=disable --debug-addr=- --log-level=warn \
    >"$datadir/ferretdb.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" > "$datadir/ferretdb.pid"
  daemon_wait ferretdb "$pid" "$datadir/ferretdb.log" "127.0.0.1:$ferret_port" port_open "$ferret_port"
  [ "$ferret_port" != "$port" ] || return 0
  node "$(dirname "${BASH_SOURCE[0]}")/mongo-atomic-gate.js" "$port" "$ferret_port" \
    >"$datadir/gate.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" > "$datadir/gate.pid"
  daemon_wait mongo-atomic-gate "$pid" "$datadir/gate.log" "127.0.0.1:$port" port_open "$port"
}

cmd_stop() {
  local datadir="${1:?usage: ferretdb.sh stop <datadir>}"
  [ ! -f "$datadir/gate.pid" ] || daemon_stop mongo-atomic-gate "$datadir/gate.pid"
  daemon_stop ferretdb "$datadir/ferretdb.pid"
}

case "${1:-}" in
  build) cmd_build ;;
  start) shift; cmd_start "$@" ;;
  stop)  shift; cmd_stop "$@" ;;
  *) echo "usage: $0 build | start <datadir> <port> | stop <datadir>" >&2; exit 2 ;;
esac
