#!/usr/bin/env bash
# Build / start / stop a local Toxiproxy server, so tests can stall or slow the
# TCP traffic between one process and a database on loopback.
#   scripts/toxiproxy.sh build                  -> prints path of cached binary
#   scripts/toxiproxy.sh start <datadir> <port> -> API on http://127.0.0.1:<port>
#   scripts/toxiproxy.sh stop <datadir>
set -euo pipefail
# shellcheck source=lib/tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/tools.sh"

TOXIPROXY_VERSION=v2.5.0
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/sails-hook-transact/toxiproxy-${TOXIPROXY_VERSION}"
BIN="$CACHE_DIR/toxiproxy-server"

die() { echo "toxiproxy.sh: $*" >&2; exit 1; }

cmd_build() {
  if [ -x "$BIN" ]; then
    echo "$BIN"
    return 0
  fi
  local go; go="$(find_go)"
  export PATH="$(dirname "$go"):$PATH"
  mkdir -p "$CACHE_DIR"
  # `go install` names the binary after its package dir ("server"): install into a
  # scratch GOBIN, then rename, so a half-written binary is never taken as cached.
  local gobin; gobin="$(mktemp -d "$CACHE_DIR/gobin.XXXXXX")"
  # The -X stamps the version GET /version reports (a plain go install says "git").
  GOBIN="$gobin" GOFLAGS=-mod=mod \
    go install -ldflags "-X github.com/Shopify/toxiproxy/v2.Version=${TOXIPROXY_VERSION#v}" \
    "github.com/Shopify/toxiproxy/v2/cmd/server@${TOXIPROXY_VERSION}" >&2 \
    || { rm -rf "$gobin"; die "go install failed"; }
  [ -x "$gobin/server" ] || { rm -rf "$gobin"; die "go install produced no server binary"; }
  mv -f "$gobin/server" "$BIN"
  rm -rf "$gobin"
  echo "$BIN"
}

api_up() {
  node -e '
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 1000).unref();
    fetch(`http://127.0.0.1:${process.argv[1]}/version`, { signal: ac.signal })
      .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));
  ' "$1"
}

cmd_start() {
  local datadir="${1:?usage: toxiproxy.sh start <datadir> <port>}"
  local port="${2:?usage: toxiproxy.sh start <datadir> <port>}"
  local bin; bin="$(cmd_build)"
  mkdir -p "$datadir"
  datadir="$(cd "$datadir" && pwd)"
  if api_up "$port"; then
    die "something already answers on 127.0.0.1:$port"
  fi
  # Unset, LOG_LEVEL means trace: a line per chunk moved, far too much for a CI log.
  LOG_LEVEL="${TOXIPROXY_LOG_LEVEL:-info}" \
    "$bin" -host 127.0.0.1 -port "$port" >"$datadir/toxiproxy.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" > "$datadir/toxiproxy.pid"
  daemon_wait toxiproxy "$pid" "$datadir/toxiproxy.log" "http://127.0.0.1:$port/version" api_up "$port"
}

cmd_stop() {
  local datadir="${1:?usage: toxiproxy.sh stop <datadir>}"
  daemon_stop toxiproxy "$datadir/toxiproxy.pid"
}

case "${1:-}" in
  build) cmd_build ;;
  start) shift; cmd_start "$@" ;;
  stop)  shift; cmd_stop "$@" ;;
  *) echo "usage: $0 build | start <datadir> <port> | stop <datadir>" >&2; exit 2 ;;
esac
